"""The mtcnn package's P-Net, R-Net and O-Net as plain TensorFlow functions on the package's own weights.

Calling the package's Keras models inside a compiled graph gives the right numbers but more work than the
networks need: two or three separate output layers, a softmax of which only the face column is read, and, in
R-Net and O-Net, a Permute before Flatten that copies every activation once more. Here the same weights are
rearranged once at load time:
- the output heads are one 1x1 convolution (P-Net) or one matrix product (R-Net, O-Net);
- the face probability is the sigmoid of the difference of the two class logits, which equals the softmax's
  second column;
- the Permute is folded into the first dense layer's rows, so a plain NHWC flatten feeds it;
- the input normalization is folded into the first convolution (see `_constants`).
PReLU is computed as Keras computes it, relu(x) - alpha * relu(-x). In TensorFlow, a 640x480 P-Net pyramid took
9.1 ms this way against 11.4 ms through the Keras models; the outputs agree to float rounding
(tests/test_mtcnn_nets.py). mtcnn_conversion.py converts them to the TFLite files fertui runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from mtcnn.network.onet import ONet
from mtcnn.network.pnet import PNet
from mtcnn.network.rnet import RNet
from mtcnn.utils.tensorflow import load_weights

PIXEL_MEAN, PIXEL_SCALE = 127.5, 128.0
"""The package feeds its networks (pixels - 127.5) / 128."""


def load_package_network(network: type[tf.keras.Model], weights_file: str) -> tf.keras.Model:
    """Build one of the package's Keras networks and load its weights from the package's own lz4 file."""
    model = network()
    model.build()
    model.set_weights(load_weights(weights_file))
    return model


def _constants(net: tf.keras.Model) -> dict[str, list[tf.Tensor]]:
    """Each layer's weights as constants, by the package's layer names (read once, eagerly).

    The first convolution is changed to read pixel values 0..255 directly: the package feeds it
    (pixels - 127.5) / 128, and since its windows never reach past the image ("valid" padding), that affine map
    folds exactly into its kernel and bias. Resizing and cropping commute with it, so no frame is normalized.
    """
    constants = {layer.name: [tf.constant(weights) for weights in layer.get_weights()] for layer in net.layers}
    kernel, bias = net.get_layer("conv1").get_weights()
    constants["conv1"] = [
        tf.constant(kernel / PIXEL_SCALE),
        tf.constant(bias - kernel.sum(axis=(0, 1, 2)) * PIXEL_MEAN / PIXEL_SCALE),
    ]
    return constants


def _conv(x: tf.Tensor, weights: list[tf.Tensor]) -> tf.Tensor:
    kernel, bias = weights
    return tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides=1, padding="VALID"), bias)


def _prelu(x: tf.Tensor, weights: list[tf.Tensor]) -> tf.Tensor:
    (alpha,) = weights
    return tf.nn.relu(x) - alpha * tf.nn.relu(-x)


def _pool(x: tf.Tensor, size: int, padding: str) -> tf.Tensor:
    return tf.nn.max_pool2d(x, size, 2, padding)


def _merged_heads(regression: list[tf.keras.layers.Layer], face_class: tf.keras.layers.Layer) -> list[tf.Tensor]:
    """The regression heads and the face head as one kernel and bias, face column last.

    The face column outputs logit(face) - logit(not face), whose sigmoid is the softmax's face column.
    """
    kernels = [layer.get_weights()[0] for layer in regression]
    biases = [layer.get_weights()[1] for layer in regression]
    class_kernel, class_bias = face_class.get_weights()
    kernels.append(class_kernel[..., 1:2] - class_kernel[..., 0:1])
    biases.append(class_bias[1:2] - class_bias[0:1])
    return [tf.constant(np.concatenate(kernels, axis=-1)), tf.constant(np.concatenate(biases))]


def _unpermuted_dense(dense: tf.keras.layers.Dense, grid: tuple[int, int, int]) -> list[tf.Tensor]:
    """The dense layer after Permute((2, 1, 3)) + Flatten, rearranged to read a plain NHWC flatten instead."""
    height, width, channels = grid
    kernel, bias = dense.get_weights()
    # Rows of the package's kernel are ordered (w, h, c); reorder them to (h, w, c).
    kernel = kernel.reshape(width, height, channels, -1).transpose(1, 0, 2, 3).reshape(height * width * channels, -1)
    return [tf.constant(kernel), tf.constant(bias)]


def _dense(x: tf.Tensor, weights: list[tf.Tensor]) -> tf.Tensor:
    kernel, bias = weights
    return tf.matmul(x, kernel) + bias


def _flatten(x: tf.Tensor) -> tf.Tensor:
    return tf.reshape(x, (tf.shape(x)[0], -1))


def pnet_function() -> Callable[[tf.Tensor], tf.Tensor]:
    """P-Net on a batch of images (pixel values 0..255): (B, H', W', 5), box offsets then the face probability."""
    net = load_package_network(PNet, "pnet.lz4")
    w = _constants(net)
    heads = _merged_heads([net.conv4_1], net.conv4_2)

    def pnet(x: tf.Tensor) -> tf.Tensor:
        x = _pool(_prelu(_conv(x, w["conv1"]), w["prelu1"]), 2, "SAME")
        x = _prelu(_conv(x, w["conv2"]), w["prelu2"])
        x = _prelu(_conv(x, w["conv3"]), w["prelu3"])
        out = _conv(x, heads)
        return tf.concat([out[..., :4], tf.sigmoid(out[..., 4:])], axis=-1)

    return pnet


def rnet_function() -> Callable[[tf.Tensor], tf.Tensor]:
    """R-Net on 24x24 crops (B, 24, 24, 3) of pixel values 0..255: (B, 5), box offsets then the face probability."""
    net = load_package_network(RNet, "rnet.lz4")
    w = _constants(net)
    fc4 = _unpermuted_dense(net.fc4, (3, 3, 64))
    heads = _merged_heads([net.fc5_1], net.fc5_2)

    def rnet(x: tf.Tensor) -> tf.Tensor:
        x = _pool(_prelu(_conv(x, w["conv1"]), w["prelu1"]), 3, "SAME")
        x = _pool(_prelu(_conv(x, w["conv2"]), w["prelu2"]), 3, "VALID")
        x = _prelu(_conv(x, w["conv3"]), w["prelu3"])
        x = _prelu(_dense(_flatten(x), fc4), w["prelu4"])
        out = _dense(x, heads)
        return tf.concat([out[:, :4], tf.sigmoid(out[:, 4:])], axis=1)

    return rnet


def onet_function() -> Callable[[tf.Tensor], tf.Tensor]:
    """O-Net on 48x48 crops of pixel values 0..255: (B, 15), box offsets, keypoints (5 x then 5 y), face probability."""
    net = load_package_network(ONet, "onet.lz4")
    w = _constants(net)
    fc5 = _unpermuted_dense(net.fc5, (3, 3, 128))
    heads = _merged_heads([net.fc6_1, net.fc6_2], net.fc6_3)

    def onet(x: tf.Tensor) -> tf.Tensor:
        x = _pool(_prelu(_conv(x, w["conv1"]), w["prelu1"]), 3, "SAME")
        x = _pool(_prelu(_conv(x, w["conv2"]), w["prelu2"]), 3, "VALID")
        x = _pool(_prelu(_conv(x, w["conv3"]), w["prelu3"]), 2, "SAME")
        x = _prelu(_conv(x, w["conv4"]), w["prelu4"])
        x = _prelu(_dense(_flatten(x), fc5), w["prelu5"])
        out = _dense(x, heads)
        return tf.concat([out[:, :14], tf.sigmoid(out[:, 14:])], axis=1)

    return onet
