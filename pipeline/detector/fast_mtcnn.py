"""MTCNN run fast on a CPU: the mtcnn package's P-Net, R-Net and O-Net with their weights, driven differently.

What the package does per frame, and what we do instead:
- it resizes its pyramid and runs P-Net level by level in eager TensorFlow; we resize the whole pyramid (area
  resize, as the package) in one compiled graph traced once per frame size, and run P-Net on each level in
  TFLite, one interpreter per level size;
- NMS decides which candidates survive and so where the final boxes land, so we call the package's own routine
  (see `package_nms`) on the few hundred boxes of a frame, and OpenCV's cv2.dnn.NMSBoxes on a pyramid level with
  more than EXACT_NMS_LIMIT windows, where the package's N x N matrices would cost too much memory;
- the three networks are the package's weights rearranged into plain TensorFlow functions and converted to
  TFLite in memory at start-up (mtcnn_nets.py), the fastest runtime measured here;
- R-Net and O-Net crops are cut by tf.image.crop_and_resize in a compiled graph, in batches padded to a few
  bucket sizes, so only a few interpreters are planned whatever the number of candidates;
- its `min_face_size` breaks at about 30 px and above: it counts pyramid levels from the image size alone, as if
  the first scale were 1, but starts at 12 / min_face_size, so with a larger minimum face the last levels
  shrink below P-Net's 12 px window and TensorFlow raises, which the package reports as "no face". We keep a
  level only while its short side still holds a 12 px window.

The box and landmark arithmetic follows the package (mtcnn 1.0.0) so both find the same faces; see
tests/test_fast_mtcnn.py for the agreement check and benchmarks/detector.py for the speed.
"""

from __future__ import annotations

import importlib.metadata
import math

import cv2
import numpy as np
import tensorflow as tf
from mtcnn.utils.bboxes import smart_nms_from_bboxes

from pipeline.detector.mtcnn_nets import LiteNetwork, onet_function, pnet_function, rnet_function
from pipeline.frames import Face

PNET_WINDOW = 12  # P-Net looks at 12 x 12 windows ...
PNET_STRIDE = 2  # ... every 2 pixels of a pyramid level
RNET_SIZE = 24
ONET_SIZE = 48
EXACT_NMS_LIMIT = 1000
"""Above this many P-Net windows in one level, NMS is OpenCV's greedy one (N x N float64 matrices get large)."""
BATCH_BUCKETS = (4, 8, *range(16, 257, 16))
"""R-Net / O-Net batch sizes: a batch is padded up to the next bucket (at most 15 crops wasted), larger sets are
cut into 256s. Each size gets its own TFLite interpreter, planned once, and the crop graph sees few shapes."""


def pyramid_scales(height: int, width: int, min_face_size: float, scale_factor: float) -> np.ndarray:
    """Scales of the image pyramid: a face of `min_face_size` px fills P-Net's 12 px window at the first scale.

    Levels go down by `scale_factor` while the short side of the resized image still holds one 12 px window.
    """
    first = PNET_WINDOW / min_face_size
    short_side = min(height, width)
    if short_side * first < PNET_WINDOW:
        return np.empty(0)
    count = int(math.floor(math.log(PNET_WINDOW / (short_side * first)) / math.log(scale_factor))) + 1
    scales = first * scale_factor ** np.arange(count + 1)
    # Level sizes are truncated to whole pixels, as the package does; drop a last level that ends up too small.
    return scales[np.floor(short_side * scales) >= PNET_WINDOW]


def level_sizes(height: int, width: int, scales: np.ndarray) -> list[tuple[int, int]]:
    """(height, width) of each pyramid level, truncated like the package's tf.image.resize call."""
    return [(int(height * s), int(width * s)) for s in scales]


def square_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) x1 y1 x2 y2 made square around their centre, with the longer side."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    x1 = boxes[:, 0] + width * 0.5 - side * 0.5
    y1 = boxes[:, 1] + height * 0.5 - side * 0.5
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def apply_offsets(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move box corners by the regressed offsets, in units of the box size (the package's +1 pixel convention)."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([width, height, width, height], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes scoring above `score_threshold` that survive NMS, best first (cv2.dnn.NMSBoxes)."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]]).astype(np.float64)
    kept = cv2.dnn.NMSBoxes(xywh, scores.astype(np.float32), score_threshold, iou_threshold)
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def package_nms(
    boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou_threshold: float, method: str
) -> np.ndarray:
    """Indices of the boxes above `score_threshold` that survive the package's own NMS, best first.

    The package's NMS differs from the greedy one (OpenCV's, TensorFlow's): a box is dropped when any better
    box overlaps it, even one that was itself dropped; its last stage measures overlap against the smaller box
    ("min"). Which candidates survive decides the final O-Net box: two candidates on one face can end 0.87 IoU
    apart, and with greedy NMS 1 face in 36 of our 3-face benchmark frames did. So we call the package's
    routine itself; a 640x480 frame has a few hundred P-Net windows, where its N x N cost is under a millisecond.
    """
    above = np.flatnonzero(scores > score_threshold)
    if len(above) == 0:
        return above
    # Rows as the package wants them: image id, x1 y1 x2 y2, score; then our index, carried along.
    rows = np.column_stack([np.zeros(len(above)), boxes[above], scores[above], above])
    kept = smart_nms_from_bboxes(rows, threshold=iou_threshold, method=method, initial_sort=True)
    return kept[:, 6].astype(np.int64)


Pyramid = tuple[np.ndarray, list[tuple[int, int]], tf.types.experimental.ConcreteFunction]
"""Scales, level sizes and the compiled graph that resizes a frame into its pyramid levels, for one frame size."""


def _bucket(count: int) -> int:
    return next(size for size in BATCH_BUCKETS if size >= count)


class FastMTCNN:
    """Face detector with MTCNN's three networks; `.detect` a whole image, `.refine` known face boxes.

    Not thread-safe: one instance per processing thread.
    """

    def __init__(
        self,
        min_face_size: float = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        nms_thresholds: tuple[float, float, float, float] = (0.5, 0.7, 0.7, 0.7),
        refine_margin: float = 0.0,
        warmup_size: tuple[int, int] | None = (640, 480),
    ) -> None:
        """`nms_thresholds`: P-Net within a level, P-Net across levels, R-Net, O-Net (overlap of the smaller box).

        `refine_margin`: how much `refine` grows a known box on each side (fraction of its size). Squaring
        MTCNN's tall boxes already widens them by about a quarter; growing them further lowers R-Net's and
        O-Net's scores (at 0.3 they lose most faces), so the default is 0.
        `warmup_size`: (width, height) whose graphs are compiled now rather than on the first frame.
        """
        if min_face_size < 1:
            raise ValueError(f"min_face_size must be at least 1 px, got {min_face_size}")
        if not 0 < scale_factor < 1:
            raise ValueError(f"scale_factor must be between 0 and 1, got {scale_factor}")
        self.min_face_size = float(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.scale_factor = float(scale_factor)
        self.nms_thresholds = tuple(float(t) for t in nms_thresholds)
        self.refine_margin = float(refine_margin)

        self._pnet = LiteNetwork(pnet_function(), (1, None, None, 3))
        self._rnet = LiteNetwork(rnet_function(), (None, RNET_SIZE, RNET_SIZE, 3))
        self._onet = LiteNetwork(onet_function(), (None, ONET_SIZE, ONET_SIZE, 3))
        self._pyramids: dict[tuple[int, int], Pyramid] = {}
        # Concrete functions: calling a tf.function re-checks its arguments on every call (about 1 ms here).
        self._crop_graphs = {size: _crop_graph(size) for size in (RNET_SIZE, ONET_SIZE)}
        if warmup_size is not None:
            self.warm_up(*warmup_size)

    # -- public API ---------------------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        return {
            "detector": "FastMTCNN",
            "mtcnn_version": importlib.metadata.version("mtcnn"),
            "min_face_size": self.min_face_size,
            "thresholds": list(self.thresholds),
            "scale_factor": self.scale_factor,
            "nms_thresholds": list(self.nms_thresholds),
        }

    def warm_up(self, width: int, height: int) -> None:
        """Compile the graphs for frames of this size (P-Net's pyramid; R-Net and O-Net on a small batch)."""
        image = tf.constant(np.full((height, width, 3), 127, dtype=np.uint8))
        self._proposals(image)
        boxes = np.array([[0.0, 0.0, min(width, height) / 2, min(width, height) / 2]])
        self._run_batched(self._rnet, image, boxes, image.shape)
        self._run_batched(self._onet, image, boxes, image.shape)

    def detect(self, image_rgb: np.ndarray) -> tuple[Face, ...]:
        """All faces of at least `min_face_size` px in an RGB uint8 image, best score first."""
        image_rgb = _check_image(image_rgb)
        image_tensor = tf.constant(image_rgb)
        boxes = self._proposals(image_tensor)
        if len(boxes) == 0:
            return ()
        boxes = self._rnet_stage(image_tensor, square_boxes(boxes), image_rgb.shape)
        if len(boxes) == 0:
            return ()
        return self._onet_stage(image_tensor, square_boxes(boxes), image_rgb.shape)

    def refine(self, image_rgb: np.ndarray, faces: tuple[Face, ...]) -> tuple[Face, ...]:
        """The given faces found again in a new image by R-Net and O-Net alone, without the pyramid.

        Each box (grown by `refine_margin` on every side) is squared, as MTCNN squares its candidates; R-Net's
        regression moves it onto the face and O-Net fits the box and keypoints. A face that no longer scores
        above the thresholds is left out, so a caller sees that it was lost.
        """
        image_rgb = _check_image(image_rgb)
        if not faces:
            return ()
        xywh = np.array([face.box for face in faces], dtype=np.float64)
        grow = xywh[:, 2:4] * self.refine_margin
        boxes = np.column_stack([xywh[:, :2] - grow, xywh[:, :2] + xywh[:, 2:4] + grow])
        image_tensor = tf.constant(image_rgb)
        boxes = self._rnet_stage(image_tensor, square_boxes(boxes), image_rgb.shape)
        if len(boxes) == 0:
            return ()
        return self._onet_stage(image_tensor, square_boxes(boxes), image_rgb.shape)

    # -- stages ---------------------------------------------------------------------------------------------

    def _proposals(self, image: tf.Tensor) -> np.ndarray:
        """P-Net over the pyramid: candidate boxes (N, 5) x1 y1 x2 y2 score, after NMS within and across levels."""
        height, width = image.shape[:2]
        scales, sizes, resize_graph = self._pyramid(height, width)
        if not sizes:
            return np.empty((0, 5))
        threshold, (level_nms, cross_nms) = self.thresholds[0], self.nms_thresholds[:2]
        candidates = []
        for scale, level in zip(scales, resize_graph(image), strict=True):
            outputs = self._pnet(level.numpy())[0]
            boxes, scores = _windows(outputs[..., :4], outputs[..., 4], threshold, scale)
            if len(boxes) > EXACT_NMS_LIMIT:
                kept = nms(boxes, scores, threshold, level_nms)
            else:
                kept = package_nms(boxes, scores, threshold, level_nms, method="union")
            candidates.append(np.column_stack([boxes[kept], scores[kept]]))
        candidates = np.concatenate(candidates)
        if len(candidates) > EXACT_NMS_LIMIT:
            kept = nms(candidates[:, :4], candidates[:, 4], threshold, cross_nms)
        else:
            kept = package_nms(candidates[:, :4], candidates[:, 4], threshold, cross_nms, method="union")
        return candidates[kept]

    def _rnet_stage(self, image: tf.Tensor, boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        outputs = self._run_batched(self._rnet, image, boxes, shape)
        offsets, scores = outputs[:, :4], outputs[:, 4]
        boxes = apply_offsets(boxes, offsets)
        kept = package_nms(boxes, scores, self.thresholds[1], self.nms_thresholds[2], method="union")
        return boxes[kept]

    def _onet_stage(self, image: tf.Tensor, boxes: np.ndarray, shape: tuple[int, ...]) -> tuple[Face, ...]:
        outputs = self._run_batched(self._onet, image, boxes, shape)
        offsets, keypoints, scores = outputs[:, :4], outputs[:, 4:14], outputs[:, 14]
        # Keypoints are predicted relative to the box O-Net saw, before its own correction (as the package).
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        keypoints = keypoints.reshape(-1, 2, 5).transpose(0, 2, 1) * size[:, None, :] + boxes[:, None, 0:2] - 1
        boxes = apply_offsets(boxes, offsets)
        kept = package_nms(boxes, scores, self.thresholds[2], self.nms_thresholds[3], method="min")
        return _faces(boxes[kept], scores[kept], keypoints[kept], shape)

    # -- compiled graphs -----------------------------------------------------------------------------------

    def _pyramid(self, height: int, width: int) -> Pyramid:
        """Scales, level sizes and the compiled resizing graph for one frame size (built once per size)."""
        key = (height, width)
        if key not in self._pyramids:
            scales = pyramid_scales(height, width, self.min_face_size, self.scale_factor)
            sizes = level_sizes(height, width, scales)
            graph = _pyramid_graph(height, width, sizes)
            self._pyramids[key] = (scales, sizes, graph)
        return self._pyramids[key]

    def _run_batched(
        self, network: LiteNetwork, image: tf.Tensor, boxes: np.ndarray, shape: tuple[int, ...]
    ) -> np.ndarray:
        """Run R-Net or O-Net on all boxes, in chunks of the largest bucket, each padded to a bucket size."""
        height, width = shape[:2]
        # crop_and_resize wants y1 x1 y2 x2 as fractions of the image (the package divides by the image size).
        normalized = (boxes[:, [1, 0, 3, 2]] / np.array([height, width, height, width])).astype(np.float32)
        crop_graph = self._crop_graphs[network.input_shape[1]]  # keyed by the crop side the network takes
        chunks = []
        for start in range(0, len(normalized), BATCH_BUCKETS[-1]):
            chunk = normalized[start : start + BATCH_BUCKETS[-1]]
            padded = np.zeros((_bucket(len(chunk)), 4), dtype=np.float32)
            padded[: len(chunk)] = chunk
            chunks.append(network(crop_graph(image, tf.constant(padded)).numpy())[: len(chunk)])
        return np.concatenate(chunks).astype(np.float64)


# The graphs below are concrete functions whose Python signature is exactly their tensor arguments: a call
# that does not match it first fails, formatting the whole frame into the error message (4 ms a frame).


def _pyramid_graph(height: int, width: int, sizes: list[tuple[int, int]]) -> tf.types.experimental.ConcreteFunction:
    """A graph resizing a uint8 frame to each pyramid level, by area averaging as the package does (float32).

    Not OpenCV: P-Net's scores move by up to 0.08 when levels are rounded to uint8, and OpenCV's INTER_AREA in
    float took 5.4 ms for a 640x480 pyramid against 2.5 ms here.
    """

    def levels(image: tf.Tensor) -> list[tf.Tensor]:
        pixels = image[None]  # resized straight from uint8 (area resizing returns float32)
        return [tf.image.resize(pixels, size, method=tf.image.ResizeMethod.AREA) for size in sizes]

    return tf.function(levels).get_concrete_function(tf.TensorSpec([height, width, 3], tf.uint8))


def _crop_graph(size: int) -> tf.types.experimental.ConcreteFunction:
    """A graph cutting (boxes, size, size, 3) float32 crops from a uint8 frame (see `_crops`)."""

    def crops(image: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
        return _crops(image, boxes, size)

    return tf.function(crops).get_concrete_function(
        tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32)
    )


def _crops(image: tf.Tensor, boxes: tf.Tensor, size: int) -> tf.Tensor:
    """Bilinear crops resized to size x size, in float pixel values; outside the image reads as the package's
    padding (127.5, which its normalization maps to 0). crop_and_resize reads the uint8 frame directly."""
    return tf.image.crop_and_resize(
        image[None],
        boxes,
        tf.zeros(tf.shape(boxes)[0], dtype=tf.int32),
        (size, size),
        extrapolation_value=127.5,
    )


def _windows(offsets: np.ndarray, probs: np.ndarray, threshold: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """P-Net windows scoring above `threshold` at one level: boxes (N, 4) in image pixels, and their scores."""
    rows, cols = np.nonzero(probs > threshold)
    # Window corners as the package computes them (mtcnn.utils.bboxes.generate_bounding_box): the top-left corner
    # is one pixel in, so the window spans 11 px, and the offsets are in units of that span.
    top_left = np.stack([cols, rows], axis=1) * PNET_STRIDE + 1
    bottom_right = np.stack([cols, rows], axis=1) * PNET_STRIDE + PNET_WINDOW
    span = PNET_WINDOW - 1
    boxes = (np.concatenate([top_left, bottom_right], axis=1) + offsets[rows, cols] * span) / scale
    return boxes, probs[rows, cols]


def _faces(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, shape: tuple[int, ...]) -> tuple[Face, ...]:
    """Faces with boxes clipped to the image (as the package does), best score first."""
    height, width = shape[:2]
    limits = np.array([width - 1, height - 1, width - 1, height - 1])
    boxes = np.clip(boxes, 0, limits)
    order = np.argsort(-scores, kind="stable")
    return tuple(
        Face(
            box=(float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
            score=float(score),
            keypoints=points.astype(np.float32),
        )
        for (x1, y1, x2, y2), score, points in zip(boxes[order], scores[order], keypoints[order], strict=True)
        if x2 > x1 and y2 > y1
    )


def _check_image(image_rgb: np.ndarray) -> np.ndarray:
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image_rgb.dtype} {image_rgb.shape}")
    return np.ascontiguousarray(image_rgb)
