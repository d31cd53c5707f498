"""MTCNN run fast on a CPU: the mtcnn package's P-Net, R-Net and O-Net with their weights, driven differently.

What the package does per frame, and what we do instead:
- it resizes its pyramid and runs P-Net level by level in eager TensorFlow; we resize each level with OpenCV
  (area averaging in float32, as the package's tf.image.resize AREA, to 0.01 of a grey level; two levels at a
  time) and run P-Net on each level in TFLite, one interpreter per level size, kept for the last frame size only
  (video keeps its size, so nothing is re-planned; photos of many sizes no longer grow memory with every size),
  and a level longer than PNET_TILE in tiles that give the same output map (a large photo plans no more memory
  than a 640x480 video frame);
- NMS decides which candidates survive and so where the final boxes land, so we apply the package's own rule
  (see `package_nms`) to the few hundred boxes of a frame, and OpenCV's cv2.dnn.NMSBoxes to a pyramid level
  with more than EXACT_NMS_LIMIT windows, where the package's N x N matrices would cost too much memory;
- the three networks are the package's weights rearranged and converted to TFLite once
  (models/mtcnn/, see mtcnn_models.py), the fastest runtime measured here, loaded without TensorFlow;
- R-Net and O-Net crops are cut with one cv2.remap per batch, sampled as the package's tf.image.crop_and_resize
  samples them, in batches padded to a few bucket sizes, so only a few interpreters are planned whatever the
  number of candidates;
- its `min_face_size` breaks at about 30 px and above: it counts pyramid levels from the image size alone, as if
  the first scale were 1, but starts at 12 / min_face_size, so with a larger minimum face the last levels
  shrink below P-Net's 12 px window and TensorFlow raises, which the package reports as "no face". We keep a
  level only while its short side still holds a 12 px window.

The box and landmark arithmetic follows the package (mtcnn 1.0.0) so both find the same faces; see
tests/test_fast_mtcnn.py for the agreement check and benchmarks/detector.py for the speed.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.files import sha256_of
from pipeline.core.frames import Face
from pipeline.core.paths import installed_models_dir
from pipeline.core.threads import thread_budget
from pipeline.runtime.detector.lite_network import LiteNetwork
from pipeline.runtime.detector.mtcnn_models import CARD, FOLDER, load_networks, read_card

PNET_WINDOW = 12  # P-Net looks at 12 x 12 windows ...
PNET_STRIDE = 2  # ... every 2 pixels of a pyramid level
RNET_SIZE = 24
ONET_SIZE = 48
EXACT_NMS_LIMIT = 1000
"""Above this many P-Net windows in one level, NMS is OpenCV's greedy one (N x N float64 matrices get large)."""
BATCH_BUCKETS = (4, 8, *range(16, 257, 16))
"""R-Net / O-Net batch sizes: a batch is padded up to the next bucket (at most 15 crops wasted), larger sets are
cut into 256s. Each size gets its own TFLite interpreter, planned once, and the crop graph sees few shapes."""
BUCKETS_KEPT = 4
"""R-Net / O-Net interpreters held at once, the least recently used dropped first. A video's candidate counts stay
within a few buckets; photos of many sizes visit many, and each bucket's interpreter kept would add its memory."""
PYRAMIDS_KEPT = 64
"""Frame sizes whose pyramid scales are remembered (a few numbers each)."""
PNET_TILE = 384
"""The longest side of a piece of pyramid level P-Net runs on at once. A P-Net interpreter's memory grows with its
input's area (a 768x600 level plans about 60 MB), so a larger level is cut into overlapping tiles that give the same
output map (see `tile_spans`); 640x480 video at the default 20 px minimum face (a 384x288 first level) is not cut."""


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


def tile_spans(length: int, longest: int = PNET_TILE) -> list[tuple[int, int]]:
    """(start, size) of the pieces one side of a pyramid level is cut into so P-Net's output map comes out whole.

    P-Net's output cell c reads the level's pixels 2c .. 2c + 11 (a 3x3 convolution, 2x2 pooling, two more
    3x3 convolutions). A piece that starts on an even pixel and has an even size pools exactly as the whole level
    does, and gives the cells whose windows lie inside it; pieces that overlap by 10 pixels give every cell once.
    Pieces are of equal size, so a 768 px side costs three 264 px pieces, not a full and a mostly empty one.
    A side no longer than `longest` is one piece, run as it is.
    """
    overlap = PNET_WINDOW - PNET_STRIDE
    if length <= longest:
        return [(0, length)]
    count = math.ceil((length - overlap) / (longest - overlap))
    step = math.ceil((length - overlap) / count)
    step += step % 2  # starts on even pixels
    return [(i * step, step + overlap) for i in range(count)]


def pnet_cells(length: int) -> int:
    """Cells of P-Net's output along a level side of `length` px (the last one of an odd side half-padded)."""
    return math.ceil((length - 2) / 2) - 4


def pyramid_levels(frame: np.ndarray, sizes: list[tuple[int, int]], pool: Executor | None = None) -> list[np.ndarray]:
    """The frame area-resized to each (height, width), as the package's tf.image.resize AREA (to 0.01 grey level).

    Each level reads the whole frame (about 0.5 ms per level for 640x480, whatever the level's size), so the
    levels are resized side by side on `pool`'s threads when given: 2.9 ms for a 640x480 pyramid on two cores
    instead of 5.0. Resizing small levels from halved copies of the frame would be cheaper still, but moved
    final boxes to 0.78 IoU of the package's on benchmark frames (see benchmarks/detector.py).
    """

    def resize(size: tuple[int, int]) -> np.ndarray:
        return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)

    return list(pool.map(resize, sizes)) if pool is not None else [resize(size) for size in sizes]


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
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float32).tolist(), score_threshold, iou_threshold)
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def package_nms(
    boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou_threshold: float, method: str
) -> np.ndarray:
    """Indices of the boxes above `score_threshold` that survive the package's NMS, best first.

    The package's NMS (mtcnn.utils.bboxes.smart_nms_from_bboxes) differs from the greedy one (OpenCV's,
    TensorFlow's): a box is dropped when any better box overlaps it, even one that was itself dropped; its last
    stage measures overlap against the smaller box ("min"). Which candidates survive decides the final O-Net
    box: two candidates on one face can end 0.87 IoU apart, and with greedy NMS 1 face in 36 of our 3-face
    benchmark frames did. No library routine has this rule, so it is written out here, on the package's N x N
    overlap matrix (a few hundred boxes a frame: well under a millisecond); tests/test_fast_mtcnn.py checks it
    against the package's function. (Importing the package's would import TensorFlow.)
    """
    above = np.flatnonzero(scores > score_threshold)
    if len(above) == 0:
        return above
    # Best first; ties keep the package's order (it reverses an ascending argsort).
    order = above[np.argsort(scores[above])[::-1]]
    x1, y1, x2, y2 = boxes[order].T
    area = (x2 - x1) * (y2 - y1)
    inter = np.maximum(0.0, np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None])) * np.maximum(
        0.0, np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None])
    )
    if method == "union":
        overlap = inter / (area[:, None] + area[None] - inter)
    elif method == "min":
        overlap = inter / np.minimum(area[:, None], area[None])
    else:
        raise ValueError(f"method must be 'union' or 'min', got {method!r}")
    # Box j is dropped when a better-ranked box i < j overlaps it by more than the threshold.
    dropped = np.triu(overlap > iou_threshold, k=1).any(axis=0)
    return order[~dropped]


Pyramid = tuple[np.ndarray, list[tuple[int, int]]]
"""Scales and (height, width) of each level of the image pyramid, for one frame size."""


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
        models_dir: Path | None = None,
        card: dict | None = None,
        networks: dict[str, bytes] | None = None,
    ) -> None:
        """`nms_thresholds`: P-Net within a level, P-Net across levels, R-Net, O-Net (overlap of the smaller box).

        `refine_margin`: how much `refine` grows a known box on each side (fraction of its size). Squaring
        MTCNN's tall boxes already widens them by about a quarter; growing them further lowers R-Net's and
        O-Net's scores (at 0.3 they lose most faces), so the default is 0.
        `warmup_size`: (width, height) whose interpreters are planned now rather than on the first frame.
        `models_dir`: the folder of the three .tflite files and their card (ModelError when missing or altered;
        None: the installed models' mtcnn/).
        `card`, `networks`: that folder's card and its networks' bytes, already verified (a ModelSet's).
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

        if models_dir is None:
            models_dir = installed_models_dir() / FOLDER
        self.models_dir = Path(models_dir)
        self._card = read_card(models_dir) if card is None else card
        if networks is None:
            networks = load_networks(models_dir, self._card)
        self._pnet = LiteNetwork(networks["pnet"], (1, None, None, 3))
        self._rnet = LiteNetwork(networks["rnet"], (None, RNET_SIZE, RNET_SIZE, 3), max_kept=BUCKETS_KEPT)
        self._onet = LiteNetwork(networks["onet"], (None, ONET_SIZE, ONET_SIZE, 3), max_kept=BUCKETS_KEPT)
        self._pyramids: dict[tuple[int, int], Pyramid] = {}
        self._pnet_size: tuple[int, int] | None = None  # the frame size whose P-Net interpreters are planned
        self._resize_pool: ThreadPoolExecutor | None = None  # made on first use, ended by close()
        if warmup_size is not None:
            self.warm_up(*warmup_size)

    # -- public API ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """End the pyramid's worker threads (a later call starts them again)."""
        if self._resize_pool is not None:
            self._resize_pool.shutdown(wait=True)
            self._resize_pool = None

    def model_files(self) -> dict[str, str]:
        """The card and the three networks this detector runs, path -> sha256."""
        card = self.models_dir / CARD
        files = {str(card): sha256_of(card)}
        files.update({str(self.models_dir / file): info["sha256"] for file, info in self._card["files"].items()})
        return files

    def describe(self) -> dict[str, object]:
        return {
            "detector": "FastMTCNN",
            "mtcnn_version": self._card["source"]["version"],
            "networks_sha256": {file: info["sha256"] for file, info in self._card["files"].items()},
            "min_face_size": self.min_face_size,
            "thresholds": list(self.thresholds),
            "scale_factor": self.scale_factor,
            "nms_thresholds": list(self.nms_thresholds),
        }

    def warm_up(self, width: int, height: int) -> None:
        """Plan the interpreters for frames of this size (P-Net's levels; R-Net and O-Net on a small batch)."""
        frame = np.full((height, width, 3), 127.0, dtype=np.float32)
        self._proposals(frame)
        boxes = np.array([[0.0, 0.0, min(width, height) / 2, min(width, height) / 2]])
        self._run_batched(self._rnet, frame, boxes)
        self._run_batched(self._onet, frame, boxes)

    def detect(self, image_rgb: np.ndarray) -> tuple[Face, ...]:
        """All faces of at least `min_face_size` px in an RGB uint8 image, best score first."""
        frame = _float_frame(image_rgb)
        boxes = self._proposals(frame)
        if len(boxes) == 0:
            return ()
        boxes = self._rnet_stage(frame, square_boxes(boxes))
        if len(boxes) == 0:
            return ()
        return self._onet_stage(frame, square_boxes(boxes))

    def refine(self, image_rgb: np.ndarray, faces: tuple[Face, ...]) -> tuple[Face, ...]:
        """The given faces found again in a new image by R-Net and O-Net alone, without the pyramid.

        Each box (grown by `refine_margin` on every side) is squared, as MTCNN squares its candidates; R-Net's
        regression moves it onto the face and O-Net fits the box and keypoints. A face that no longer scores
        above the thresholds is left out, so a caller sees that it was lost.
        """
        frame = _float_frame(image_rgb)
        if not faces:
            return ()
        xywh = np.array([face.box for face in faces], dtype=np.float64)
        grow = xywh[:, 2:4] * self.refine_margin
        boxes = np.column_stack([xywh[:, :2] - grow, xywh[:, :2] + xywh[:, 2:4] + grow])
        boxes = self._rnet_stage(frame, square_boxes(boxes))
        if len(boxes) == 0:
            return ()
        return self._onet_stage(frame, square_boxes(boxes))

    # -- stages ---------------------------------------------------------------------------------------------

    def _proposals(self, frame: np.ndarray) -> np.ndarray:
        """P-Net over the pyramid: candidate boxes (N, 5) x1 y1 x2 y2 score, after NMS within and across levels."""
        scales, sizes = self._pyramid(*frame.shape[:2])
        if frame.shape[:2] != self._pnet_size:
            # A new frame size: the last size's level interpreters go before this one's are planned, so memory
            # holds one pyramid's, whatever the number of photo sizes (benchmarks/detector_memory.py).
            self._pnet.retain(
                (1, rows, cols, 3)
                for height, width in sizes
                for _, rows in tile_spans(height)
                for _, cols in tile_spans(width)
            )
            self._pnet_size = frame.shape[:2]
        if not sizes:
            return np.empty((0, 5))
        threshold, (level_nms, cross_nms) = self.thresholds[0], self.nms_thresholds[:2]
        per_level: list[np.ndarray] = []
        if self._resize_pool is None and thread_budget() > 1:
            # OpenCV releases the GIL while resizing, so pyramid levels are made two at a time.
            self._resize_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fertui-pyramid")
        for scale, level in zip(scales, pyramid_levels(frame, sizes, self._resize_pool), strict=True):
            outputs = self._pnet_map(level)
            boxes, scores = _windows(outputs[..., :4], outputs[..., 4], threshold, scale)
            if len(boxes) > EXACT_NMS_LIMIT:
                kept = nms(boxes, scores, threshold, level_nms)
            else:
                kept = package_nms(boxes, scores, threshold, level_nms, method="union")
            per_level.append(np.column_stack([boxes[kept], scores[kept]]))
        candidates = np.concatenate(per_level)
        if len(candidates) > EXACT_NMS_LIMIT:
            kept = nms(candidates[:, :4], candidates[:, 4], threshold, cross_nms)
        else:
            kept = package_nms(candidates[:, :4], candidates[:, 4], threshold, cross_nms, method="union")
        return candidates[kept]

    def _pnet_map(self, level: np.ndarray) -> np.ndarray:
        """P-Net's output map (H', W', 5) of one pyramid level, run whole or in tiles (`tile_spans`)."""
        row_spans, col_spans = tile_spans(level.shape[0]), tile_spans(level.shape[1])
        if len(row_spans) == 1 and len(col_spans) == 1:
            return self._pnet(level[None])[0]
        height = row_spans[-1][0] + row_spans[-1][1]
        width = col_spans[-1][0] + col_spans[-1][1]
        # The last tiles reach past the level: those cells are cut off below (PADDING reads as 0 to the network).
        padded = np.full((height, width, 3), PADDING, dtype=np.float32)
        padded[: level.shape[0], : level.shape[1]] = level
        rows = []
        for y, tile_h in row_spans:
            tiles = [np.ascontiguousarray(padded[None, y : y + tile_h, x : x + tile_w]) for x, tile_w in col_spans]
            rows.append(np.concatenate([self._pnet(tile)[0] for tile in tiles], axis=1))
        return np.concatenate(rows, axis=0)[: pnet_cells(level.shape[0]), : pnet_cells(level.shape[1])]

    def _rnet_stage(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        outputs = self._run_batched(self._rnet, frame, boxes)
        offsets, scores = outputs[:, :4], outputs[:, 4]
        boxes = apply_offsets(boxes, offsets)
        kept = package_nms(boxes, scores, self.thresholds[1], self.nms_thresholds[2], method="union")
        return boxes[kept]

    def _onet_stage(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[Face, ...]:
        outputs = self._run_batched(self._onet, frame, boxes)
        offsets, keypoints, scores = outputs[:, :4], outputs[:, 4:14], outputs[:, 14]
        # Keypoints are predicted relative to the box O-Net saw, before its own correction (as the package).
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        keypoints = keypoints.reshape(-1, 2, 5).transpose(0, 2, 1) * size[:, None, :] + boxes[:, None, 0:2] - 1
        boxes = apply_offsets(boxes, offsets)
        kept = package_nms(boxes, scores, self.thresholds[2], self.nms_thresholds[3], method="min")
        return _faces(boxes[kept], scores[kept], keypoints[kept], frame.shape)

    def _pyramid(self, height: int, width: int) -> Pyramid:
        """Scales and level sizes for one frame size (computed once per size)."""
        key = (height, width)
        if key not in self._pyramids:
            if len(self._pyramids) >= PYRAMIDS_KEPT:
                del self._pyramids[next(iter(self._pyramids))]  # the oldest size: a dict keeps insertion order
            scales = pyramid_scales(height, width, self.min_face_size, self.scale_factor)
            self._pyramids[key] = (scales, level_sizes(height, width, scales))
        return self._pyramids[key]

    def _run_batched(self, network: LiteNetwork, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Run R-Net or O-Net on all boxes, in chunks of the largest bucket, each padded to a bucket size."""
        size = int(network.input_shape[1] or 0)  # R-Net 24, O-Net 48: fixed in their input shapes
        chunks = []
        for start in range(0, len(boxes), BATCH_BUCKETS[-1]):
            chunk = boxes[start : start + BATCH_BUCKETS[-1]]
            batch = np.full((_bucket(len(chunk)), size, size, 3), PADDING, dtype=np.float32)
            batch[: len(chunk)] = crop_boxes(frame, chunk, size)
            chunks.append(network(batch)[: len(chunk)])
        return np.concatenate(chunks).astype(np.float64)


PADDING = 127.5
"""What a crop reads outside the image: the package's crop_and_resize extrapolation value (0 once normalized)."""


def crop_boxes(frame: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) bilinear crops of boxes x1 y1 x2 y2 from a float32 frame, sampled as the package does.

    The package calls tf.image.crop_and_resize with each box divided by the image size, which samples `size`
    points from x1 * (W - 1) / W to x2 * (W - 1) / W, ends included (and likewise in y); a point outside the
    image reads PADDING. One cv2.remap samples the same points for every box at once; it would blend PADDING
    into points less than a pixel outside, so those rows and columns are set to PADDING afterwards.
    """
    height, width = frame.shape[:2]
    steps = np.arange(size) / (size - 1)
    xs = (boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * steps) * ((width - 1) / width)  # (N, size)
    ys = (boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * steps) * ((height - 1) / height)
    count = len(boxes)
    # The crops stacked vertically: row r of crop n samples ys[n, r], column c samples xs[n, c].
    map_x = np.broadcast_to(xs[:, None, :], (count, size, size)).reshape(count * size, size).astype(np.float32)
    map_y = np.broadcast_to(ys[:, :, None], (count, size, size)).reshape(count * size, size).astype(np.float32)
    crops = cv2.remap(
        frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(PADDING,) * 3
    ).reshape(count, size, size, 3)
    outside_x = (xs < 0) | (xs > width - 1)
    outside_y = (ys < 0) | (ys > height - 1)
    crops[outside_y[:, :, None] | outside_x[:, None, :]] = PADDING
    return crops


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


def _float_frame(image_rgb: np.ndarray) -> np.ndarray:
    """The frame as float32 pixel values (what the networks read), after checking it is an RGB uint8 image."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image_rgb.dtype} {image_rgb.shape}")
    return image_rgb.astype(np.float32)
