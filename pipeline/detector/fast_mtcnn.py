"""MTCNN run fast on a CPU: the mtcnn package's P-Net, R-Net and O-Net with their weights, driven differently.

What the package does per frame, and what we do instead:
- it resizes its pyramid and runs P-Net level by level in eager TensorFlow; we run the whole pyramid (area
  resize, as the package, then P-Net) in one compiled graph whose shapes are fixed per frame size, traced once;
- NMS decides which candidates survive and so where the final boxes land, so we call the package's own routine
  (see `package_nms`) on the few hundred boxes of a frame, and OpenCV's cv2.dnn.NMSBoxes on a pyramid level with
  more than EXACT_NMS_LIMIT windows, where the package's N x N matrices would cost too much memory;
- R-Net and O-Net crops are cut by tf.image.crop_and_resize inside compiled graphs, in batches padded to a few
  bucket sizes, so the graphs and their kernels stay warm whatever the number of candidates;
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
from functools import partial

import cv2
import numpy as np
import tensorflow as tf
from mtcnn.network.onet import ONet
from mtcnn.network.pnet import PNet
from mtcnn.network.rnet import RNet
from mtcnn.utils.bboxes import smart_nms_from_bboxes
from mtcnn.utils.tensorflow import load_weights

from pipeline.frames import Face

PNET_WINDOW = 12  # P-Net looks at 12 x 12 windows ...
PNET_STRIDE = 2  # ... every 2 pixels of a pyramid level
RNET_SIZE = 24
ONET_SIZE = 48
EXACT_NMS_LIMIT = 1000
"""Above this many P-Net windows in one level, NMS is OpenCV's greedy one (N x N float64 matrices get large)."""
BATCH_BUCKETS = (4, 8, *range(16, 257, 16))
"""R-Net / O-Net batch sizes: a batch is padded up to the next bucket (at most 15 crops wasted), larger sets are
cut into 256s. The graphs take any batch size without retracing; a few fixed sizes keep TensorFlow's kernels warm
instead of preparing new ones for every candidate count."""


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


Pyramid = tuple[np.ndarray, list[tuple[int, int]], tf.types.experimental.PolymorphicFunction]
"""Scales, level sizes and the compiled P-Net graph for one frame size."""


def _bucket(count: int) -> int:
    return next(size for size in BATCH_BUCKETS if size >= count)


def _load_network(network: type[tf.keras.Model], weights_file: str) -> tf.keras.Model:
    """Build one of the package's networks and load its weights from the package's own lz4 file."""
    model = network()
    model.build()
    model.set_weights(load_weights(weights_file))
    return model


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

        self._pnet = _load_network(PNet, "pnet.lz4")
        self._rnet = _load_network(RNet, "rnet.lz4")
        self._onet = _load_network(ONet, "onet.lz4")
        self._pyramids: dict[tuple[int, int], Pyramid] = {}
        crop_signature = [tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32)]
        self._rnet_graph = tf.function(self._rnet_on_crops, input_signature=crop_signature)
        self._onet_graph = tf.function(self._onet_on_crops, input_signature=crop_signature)
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
        self._run_batched(self._rnet_graph, image, boxes, image.shape)
        self._run_batched(self._onet_graph, image, boxes, image.shape)

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
        scales, sizes, graph = self._pyramid(height, width)
        if not sizes:
            return np.empty((0, 5))
        outputs = graph(image)
        threshold, (level_nms, cross_nms) = self.thresholds[0], self.nms_thresholds[:2]
        candidates = []
        for scale, (offsets, probs) in zip(scales, zip(outputs[::2], outputs[1::2], strict=True), strict=True):
            boxes, scores = _windows(offsets.numpy(), probs.numpy(), threshold, scale)
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
        offsets, scores = self._run_batched(self._rnet_graph, image, boxes, shape)
        boxes = apply_offsets(boxes, offsets)
        kept = package_nms(boxes, scores, self.thresholds[1], self.nms_thresholds[2], method="union")
        return boxes[kept]

    def _onet_stage(self, image: tf.Tensor, boxes: np.ndarray, shape: tuple[int, ...]) -> tuple[Face, ...]:
        offsets, keypoints, scores = self._run_batched(self._onet_graph, image, boxes, shape)
        # Keypoints are predicted relative to the box O-Net saw, before its own correction (as the package).
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        keypoints = keypoints.reshape(-1, 2, 5).transpose(0, 2, 1) * size[:, None, :] + boxes[:, None, 0:2] - 1
        boxes = apply_offsets(boxes, offsets)
        kept = package_nms(boxes, scores, self.thresholds[2], self.nms_thresholds[3], method="min")
        return _faces(boxes[kept], scores[kept], keypoints[kept], shape)

    # -- compiled graphs -----------------------------------------------------------------------------------

    def _pyramid(self, height: int, width: int) -> Pyramid:
        """Scales, level sizes and the compiled P-Net graph for one frame size (built once per size)."""
        key = (height, width)
        if key not in self._pyramids:
            scales = pyramid_scales(height, width, self.min_face_size, self.scale_factor)
            sizes = level_sizes(height, width, scales)
            signature = [tf.TensorSpec([height, width, 3], tf.uint8)]
            graph = tf.function(partial(self._pnet_on_levels, sizes=sizes), input_signature=signature)
            self._pyramids[key] = (scales, sizes, graph)
        return self._pyramids[key]

    def _pnet_on_levels(self, image: tf.Tensor, sizes: list[tuple[int, int]]) -> list[tf.Tensor]:
        # The pyramid is resized here, by area averaging as the package does: P-Net's scores move by up to 0.08
        # when levels are rounded to uint8, and OpenCV's INTER_AREA in float reads the whole frame for every
        # level (13 ms for a 640x480 pyramid against 4 ms here).
        pixels = _normalize(image)[None]
        outputs = []
        for size in sizes:
            offsets, probs = self._pnet(tf.image.resize(pixels, size, method=tf.image.ResizeMethod.AREA))
            outputs += [offsets[0], probs[0, :, :, 1]]
        return outputs

    def _rnet_on_crops(self, image: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        offsets, probs = self._rnet(_crops(image, boxes, RNET_SIZE))
        return offsets, probs[:, 1]

    def _onet_on_crops(self, image: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        offsets, keypoints, probs = self._onet(_crops(image, boxes, ONET_SIZE))
        return offsets, keypoints, probs[:, 1]

    def _run_batched(self, graph, image: tf.Tensor, boxes: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
        """Run a crop graph on all boxes, in chunks of the largest bucket, each padded to a bucket size."""
        height, width = shape[:2]
        # crop_and_resize wants y1 x1 y2 x2 as fractions of the image (the package divides by the image size).
        normalized = (boxes[:, [1, 0, 3, 2]] / np.array([height, width, height, width])).astype(np.float32)
        chunks = []
        for start in range(0, len(normalized), BATCH_BUCKETS[-1]):
            chunk = normalized[start : start + BATCH_BUCKETS[-1]]
            padded = np.zeros((_bucket(len(chunk)), 4), dtype=np.float32)
            padded[: len(chunk)] = chunk
            chunks.append([output.numpy()[: len(chunk)] for output in graph(image, padded)])
        return [np.concatenate(parts).astype(np.float64) for parts in zip(*chunks, strict=True)]


def _normalize(pixels: tf.Tensor) -> tf.Tensor:
    """RGB values 0..255 to MTCNN's input range, as the package: (x - 127.5) / 128."""
    return (tf.cast(pixels, tf.float32) - 127.5) / 128.0


def _crops(image: tf.Tensor, boxes: tf.Tensor, size: int) -> tf.Tensor:
    """Bilinear crops resized to size x size; outside the image reads as the package's padding (0 once normalized)."""
    crops = tf.image.crop_and_resize(
        tf.cast(image, tf.float32)[None],
        boxes,
        tf.zeros(tf.shape(boxes)[0], dtype=tf.int32),
        (size, size),
        extrapolation_value=127.5,
    )
    return _normalize(crops)


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
