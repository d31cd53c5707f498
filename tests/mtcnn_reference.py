"""The mtcnn package as a reference detector, with its pyramid corrected so any minimum face size works.

mtcnn 1.0.0 counts its pyramid levels as if the first scale were 1, but starts at 12 / min_face_size, so at
about 30 px and above its last levels are smaller than P-Net's 12 px window and it finds no face: TensorFlow
raises and `detect_faces` returns nothing, or, on CPUs where TensorFlow returns an empty level, Keras raises.
`corrected_pyramid()` swaps in the same geometric series, cut where a level's short side drops below 12 px, so
the package's own code can be compared with ours at 40 px.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np


def _corrected_build_scale_pyramid(width, height, min_face_size, scale_factor, min_size=12) -> np.ndarray:
    first = min_size / min_face_size
    scales = first * scale_factor ** np.arange(64)
    return scales[np.floor(min(width, height) * scales) >= min_size]


@contextlib.contextmanager
def corrected_pyramid() -> Iterator[None]:
    """Within the block, the package builds its P-Net pyramid with the corrected level count."""
    import mtcnn.stages.stage_pnet as stage_pnet

    original = stage_pnet.build_scale_pyramid
    stage_pnet.build_scale_pyramid = _corrected_build_scale_pyramid
    try:
        yield
    finally:
        stage_pnet.build_scale_pyramid = original


THRESHOLDS = (0.6, 0.7, 0.7)
"""The package's default stage thresholds, used by FastMTCNN's agreement tests and the detector benchmark."""


def package_boxes(package_mtcnn, image_rgb: np.ndarray, min_face: int = 20) -> list[tuple[float, float, float, float]]:
    """Boxes (x, y, w, h) the mtcnn package finds at THRESHOLDS: the reference FastMTCNN must agree with."""
    found = package_mtcnn.detect_faces(
        image_rgb,
        min_face_size=min_face,
        threshold_pnet=THRESHOLDS[0],
        threshold_rnet=THRESHOLDS[1],
        threshold_onet=THRESHOLDS[2],
    )
    return [tuple(float(v) for v in face["box"]) for face in found]
