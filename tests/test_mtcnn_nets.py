"""The MTCNN networks fertui runs compute what the package's Keras models compute.

Both forms are checked: the rearranged TensorFlow functions (mtcnn_nets.py) and the TFLite files converted from
them and shipped in models/mtcnn/ (the ones the detector loads). Inputs are real: the Hopper portrait as a
pyramid level for P-Net, and crops of it (face and background) for R-Net and O-Net, fed to the package's models
normalized as the package normalizes them.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf
from mtcnn.network.onet import ONet
from mtcnn.network.pnet import PNet
from mtcnn.network.rnet import RNet

from pipeline.core.paths import installed_models_dir
from pipeline.modelling.mtcnn_nets import load_package_network, onet_function, pnet_function, rnet_function
from pipeline.runtime.detector.fast_mtcnn import FastMTCNN
from pipeline.runtime.detector.lite_network import LiteNetwork
from pipeline.runtime.detector.mtcnn_models import FOLDER, load_networks, package_weights, read_card
from pipeline.runtime.model_files import ModelError
from tests.media import portrait


@pytest.fixture(scope="module")
def hopper_rgb() -> np.ndarray:
    return cv2.cvtColor(portrait("hopper"), cv2.COLOR_BGR2RGB).astype(np.float32)


def crops(image: np.ndarray, size: int) -> np.ndarray:
    """A grid of 16 square crops over the image, face and background alike, resized to size x size."""
    height, width = image.shape[:2]
    side = min(height, width) // 2
    corners = [(x, y) for y in np.linspace(0, height - side, 4) for x in np.linspace(0, width - side, 4)]
    return np.stack(
        [cv2.resize(image[int(y) : int(y) + side, int(x) : int(x) + side], (size, size)) for x, y in corners]
    )


def normalized(pixels: np.ndarray) -> tf.Tensor:
    return tf.constant((pixels - 127.5) / 128.0, dtype=tf.float32)


def test_pnet_matches_the_package_model(hopper_rgb: np.ndarray) -> None:
    level = cv2.resize(hopper_rgb, (200, 240))[None]
    offsets, probs = load_package_network(PNet, "pnet.lz4")(normalized(level))
    ours = pnet_function()(tf.constant(level)).numpy()
    assert ours.shape == (*offsets.shape[:3], 5)
    np.testing.assert_allclose(ours[..., :4], offsets, atol=1e-4)
    np.testing.assert_allclose(ours[..., 4], probs[..., 1], atol=1e-5)
    assert (ours[..., 4] > 0.6).any() and (ours[..., 4] < 0.1).any(), "the level holds face and non-face windows"


def test_rnet_matches_the_package_model(hopper_rgb: np.ndarray) -> None:
    batch = crops(hopper_rgb, 24)
    offsets, probs = load_package_network(RNet, "rnet.lz4")(normalized(batch))
    ours = rnet_function()(tf.constant(batch)).numpy()
    np.testing.assert_allclose(ours[:, :4], offsets, atol=1e-4)
    np.testing.assert_allclose(ours[:, 4], probs[:, 1], atol=1e-5)


def test_onet_matches_the_package_model(hopper_rgb: np.ndarray) -> None:
    batch = crops(hopper_rgb, 48)
    offsets, keypoints, probs = load_package_network(ONet, "onet.lz4")(normalized(batch))
    ours = onet_function()(tf.constant(batch)).numpy()
    np.testing.assert_allclose(ours[:, :4], offsets, atol=1e-4)
    np.testing.assert_allclose(ours[:, 4:14], keypoints, atol=1e-4)
    np.testing.assert_allclose(ours[:, 14], probs[:, 1], atol=1e-5)


@pytest.fixture(scope="module")
def shipped() -> dict[str, LiteNetwork]:
    networks = load_networks(installed_models_dir() / FOLDER)
    return {
        "pnet": LiteNetwork(networks["pnet"], (1, None, None, 3)),
        "rnet": LiteNetwork(networks["rnet"], (None, 24, 24, 3)),
        "onet": LiteNetwork(networks["onet"], (None, 48, 48, 3)),
    }


def test_the_shipped_pnet_matches_the_package_model(hopper_rgb: np.ndarray, shipped) -> None:
    level = cv2.resize(hopper_rgb, (200, 240))[None]
    offsets, probs = load_package_network(PNet, "pnet.lz4")(normalized(level))
    ours = shipped["pnet"](level)
    np.testing.assert_allclose(ours[..., :4], offsets, atol=1e-4)
    np.testing.assert_allclose(ours[..., 4], probs[..., 1], atol=1e-5)
    assert (ours[..., 4] > 0.6).any() and (ours[..., 4] < 0.1).any(), "the level holds face and non-face windows"


def test_the_shipped_rnet_and_onet_match_the_package_models(hopper_rgb: np.ndarray, shipped) -> None:
    batch = crops(hopper_rgb, 24)
    offsets, probs = load_package_network(RNet, "rnet.lz4")(normalized(batch))
    ours = shipped["rnet"](batch)
    np.testing.assert_allclose(ours[:, :4], offsets, atol=1e-4)
    np.testing.assert_allclose(ours[:, 4], probs[:, 1], atol=1e-5)

    batch = crops(hopper_rgb, 48)
    offsets, keypoints, probs = load_package_network(ONet, "onet.lz4")(normalized(batch))
    ours = shipped["onet"](batch)
    np.testing.assert_allclose(ours[:, :4], offsets, atol=1e-4)
    np.testing.assert_allclose(ours[:, 4:14], keypoints, atol=1e-4)
    np.testing.assert_allclose(ours[:, 14], probs[:, 1], atol=1e-5)


def test_tflite_runs_the_same_network_on_every_input_shape(hopper_rgb: np.ndarray, shipped) -> None:
    lite = LiteNetwork(load_networks(installed_models_dir() / FOLDER)["onet"], (None, 48, 48, 3))
    function = onet_function()
    batch = crops(hopper_rgb, 48)
    for size in (4, 16, 4):  # a shape seen before reuses its interpreter
        np.testing.assert_allclose(lite(batch[:size]), function(tf.constant(batch[:size])).numpy(), atol=1e-4)
    assert sorted(lite._interpreters) == [(4, 48, 48, 3), (16, 48, 48, 3)]


def test_the_card_names_the_installed_package_and_its_weights() -> None:
    source = read_card(installed_models_dir() / FOLDER)["source"]
    assert source["version"] == importlib.metadata.version("mtcnn")
    assert source["weights"] == package_weights(), "the package's weights changed: re-run mtcnn_conversion"


def copy_of_the_networks(tmp_path: Path) -> Path:
    folder = tmp_path / "mtcnn"
    shutil.copytree(installed_models_dir() / FOLDER, folder)
    return folder


def test_an_altered_network_file_is_refused(tmp_path: Path) -> None:
    folder = copy_of_the_networks(tmp_path)
    data = bytearray((folder / "rnet.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "rnet.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="rnet.tflite does not match its model card"):
        FastMTCNN(models_dir=folder)


def test_missing_networks_say_how_to_make_them(tmp_path: Path) -> None:
    folder = copy_of_the_networks(tmp_path)
    (folder / "onet.tflite").unlink()
    with pytest.raises(ModelError, match="model file not found: .*onet.tflite"):
        FastMTCNN(models_dir=folder)
    with pytest.raises(ModelError, match="mtcnn_conversion"):
        FastMTCNN(models_dir=tmp_path / "nothing-here")
