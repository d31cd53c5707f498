"""The emotion CNN and its training-time augmentation.

A VGG-style network (four stages of two 3x3 conv + batch norm + ReLU, then max pooling; 32 to 256
channels; a 256-unit dense layer) sized so that one 48x48 face costs well under 1 ms on one CPU core in
TFLite while leaving enough capacity for FER-2013 (1.8M parameters, 118M multiply-adds).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from pipeline.core.labels import EMOTIONS
from pipeline.modelling import DEFAULT_WIDTHS

INPUT_SIZE = 48


def build_model(
    widths: tuple[int, ...] = DEFAULT_WIDTHS,
    dense_units: int = 256,
    dropout: float = 0.5,
    weight_decay: float = 1e-4,
) -> keras.Model:
    """The classifier: (N, 48, 48, 1) float32 in [0, 1] -> (N, 7) softmax probabilities."""
    reg = keras.regularizers.L2(weight_decay)
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = inputs
    for stage, width in enumerate(widths, start=1):
        for conv in (1, 2):
            x = layers.Conv2D(
                width, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"conv{stage}_{conv}"
            )(x)
            x = layers.BatchNormalization(name=f"bn{stage}_{conv}")(x)
            x = layers.ReLU(name=f"relu{stage}_{conv}")(x)
        x = layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="drop1")(x)
    x = layers.Dense(dense_units, use_bias=False, kernel_regularizer=reg, name="fc")(x)
    x = layers.BatchNormalization(name="bn_fc")(x)
    x = layers.ReLU(name="relu_fc")(x)
    x = layers.Dropout(dropout, name="drop2")(x)
    outputs = layers.Dense(len(EMOTIONS), activation="softmax", kernel_regularizer=reg, name="emotion")(x)
    return keras.Model(inputs, outputs, name="fertui_emotion")


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds to classify one face: its convolutions' and dense layers' (batch norm, pooling and the
    activations add well under 1%). What the video path's crop budget counts (pipeline.engine)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, height, width, _ = layer.output.shape
            total += height * width * math.prod(layer.kernel.shape)
        elif isinstance(layer, layers.Dense):
            total += math.prod(layer.kernel.shape)
    return int(total)


def augment(
    images: tf.Tensor, seed: tf.Tensor, webcam: bool = False, domain: bool = False, lower_face: float = 0.0
) -> tf.Tensor:
    """Random flip, rotation (+-12 deg), scale (0.85-1.15), shift (+-10%), brightness/contrast and a cutout;
    with `webcam`, then a webcam's degradations (see webcam_degrade); with `domain`, a wider scale (0.8-1.25) and
    shift (+-15%) and then the differences between datasets (see domain_degrade); with `lower_face` > 0, that
    share of the faces loses everything below the nose (see lower_face_occlusion).

    `images` is a (B, 48, 48, 1) float32 batch in [0, 1]; `seed` a shape-(2,) int tensor, so a batch's
    augmentation is reproducible from the epoch and batch index (this is what makes --resume exact).
    """
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=9)
    uniform = lambda i, lo, hi: tf.random.stateless_uniform([batch], seeds[i], lo, hi)  # noqa: E731

    flip = tf.where(uniform(0, 0.0, 1.0) < 0.5, -1.0, 1.0)
    angle = uniform(1, -12.0, 12.0) * (math.pi / 180.0)
    low, high, shift = (0.8, 1.25, 0.15) if domain else (0.85, 1.15, 0.1)
    scale = uniform(2, low, high)
    shift_x = uniform(3, -shift, shift) * INPUT_SIZE
    shift_y = uniform(4, -shift, shift) * INPUT_SIZE
    # Output pixel (x, y) samples input at A @ (x - c) + c + shift, with A = R(angle) / scale and a flip in x.
    c = (INPUT_SIZE - 1) / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1 = cos * flip, -sin
    b0, b1 = sin * flip, cos
    a2 = c - a0 * c - a1 * c + shift_x
    b2 = c - b0 * c - b1 * c + shift_y
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[INPUT_SIZE, INPUT_SIZE],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )

    brightness = tf.reshape(uniform(5, -0.15, 0.15), [-1, 1, 1, 1])
    contrast = tf.reshape(uniform(6, 0.7, 1.3), [-1, 1, 1, 1])
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = tf.clip_by_value((images - mean) * contrast + mean + brightness, 0.0, 1.0)

    # Cutout: one 16x16 square at a random place in half of the images, filled with the image mean.
    centre = tf.random.stateless_uniform([batch, 2], seeds[7], 0, INPUT_SIZE, dtype=tf.int32)
    ys = tf.range(INPUT_SIZE)[None, :, None]
    xs = tf.range(INPUT_SIZE)[None, None, :]
    cy, cx = centre[:, 0][:, None, None], centre[:, 1][:, None, None]
    inside = (tf.abs(ys - cy) < 8) & (tf.abs(xs - cx) < 8)
    use = uniform(8, 0.0, 1.0)[:, None, None] > 0.5
    inside = tf.logical_and(inside, use)[..., None]
    images = tf.where(inside, tf.broadcast_to(mean, tf.shape(images)), images)
    if webcam:
        # Its own seed stream, so the augmentation above is the same with or without this step.
        images = webcam_degrade(images, tf.random.experimental.stateless_fold_in(seed, 1))
    if domain:
        images = domain_degrade(images, tf.random.experimental.stateless_fold_in(seed, 3))
    if lower_face > 0:
        images = lower_face_occlusion(images, tf.random.experimental.stateless_fold_in(seed, 4), lower_face)
    return images


# The aligned crop's rows (face_crop: eyes at y 18.5, mouth at about 39.6): the nose's tip sits near row 31.
LOWER_FACE_TOP = (29, 34)


def lower_face_occlusion(images: tf.Tensor, seed: tf.Tensor, share: float) -> tf.Tensor:
    """`share` of the batch (at random) has every row below the nose, from a random row in LOWER_FACE_TOP down,
    filled with the image's mean. FER-2013's angry and fearful faces mostly shout; a posed anger or fear is often
    a closed mouth under lowered or raised brows. With the mouth hidden the target stays, so the network must
    find the expression in the brows and eyes too."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    top = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0], *LOWER_FACE_TOP, dtype=tf.int32)
    use = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1], 0.0, 1.0) < share
    rows = tf.range(INPUT_SIZE)[None, :, None, None]
    hidden = tf.logical_and(rows >= top, use)
    fill = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return tf.where(hidden, tf.broadcast_to(fill, tf.shape(images)), images)


def domain_degrade(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """What separates one collection of faces from another, beyond framing: each on a random half of the batch,
    a lower resolution (down to 16-40 px and back), JPEG loss (quality 20-80), a gamma of 0.6-1.6 (exposure and
    the grey conversion of colour photos), and a larger occluder (a 24x12 bar: a hand, glasses, a microphone)."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=8)
    uniform = lambda i, lo, hi: tf.random.stateless_uniform([batch, 1, 1, 1], seeds[i], lo, hi)  # noqa: E731
    half = lambda i: uniform(i, 0.0, 1.0) < 0.5  # noqa: E731

    # One reduced size per batch (resize works on a batch at one size), applied to a random half of it.
    size = tf.random.stateless_uniform([], seeds[0], 16, 41, dtype=tf.int32)
    small = tf.image.resize(images, tf.stack([size, size]), method="area")
    reduced = tf.image.resize(small, [INPUT_SIZE, INPUT_SIZE], method="bilinear")
    images = tf.where(half(1), reduced, images)

    qualities = tf.random.stateless_uniform([batch], seeds[2], 20, 81, dtype=tf.int32)
    compressed = tf.map_fn(
        lambda pair: tf.image.adjust_jpeg_quality(pair[0], pair[1]),
        (images, qualities),
        fn_output_signature=tf.float32,
    )
    images = tf.where(half(3), tf.reshape(compressed, tf.shape(images)), images)

    gamma = tf.where(half(4), uniform(5, 0.6, 1.6), tf.ones([batch, 1, 1, 1]))
    images = tf.pow(tf.clip_by_value(images, 1e-6, 1.0), gamma)

    corner = tf.random.stateless_uniform([batch, 2], seeds[6], 0, INPUT_SIZE, dtype=tf.int32)
    ys = tf.range(INPUT_SIZE)[None, :, None]
    xs = tf.range(INPUT_SIZE)[None, None, :]
    cy, cx = corner[:, 0][:, None, None], corner[:, 1][:, None, None]
    bar = (ys >= cy) & (ys < cy + 12) & (xs >= cx - 12) & (xs < cx + 12)
    bar = tf.logical_and(bar, half(7)[:, :, :, 0])[..., None]
    fill = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return tf.clip_by_value(tf.where(bar, tf.broadcast_to(fill, tf.shape(images)), images), 0.0, 1.0)


_BLUR = [0.0625, 0.25, 0.375, 0.25, 0.0625]  # a 5-tap binomial kernel, close to a Gaussian of sigma 1


def webcam_degrade(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """What a webcam in a dim room does to a face: blur (a random share of a sigma-1 blur), a gamma of
    0.7-1.4 (exposure), and sensor noise (standard deviation up to 0.04), each on a random half of the batch."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=6)
    uniform = lambda i, lo, hi: tf.random.stateless_uniform([batch, 1, 1, 1], seeds[i], lo, hi)  # noqa: E731
    half = lambda i: tf.cast(uniform(i, 0.0, 1.0) < 0.5, tf.float32)  # noqa: E731

    kernel = tf.constant(_BLUR, tf.float32)
    kernel = (kernel[:, None] * kernel[None, :])[:, :, None, None]
    blurred = tf.nn.conv2d(tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT"), kernel, 1, "VALID")
    amount = uniform(0, 0.0, 1.0) * half(1)
    images = images * (1.0 - amount) + blurred * amount
    gamma = tf.where(half(2) > 0, uniform(3, 0.7, 1.4), tf.ones_like(amount))
    images = tf.pow(tf.clip_by_value(images, 1e-6, 1.0), gamma)
    sigma = uniform(4, 0.0, 0.04) * half(5)
    noise = tf.random.stateless_normal(tf.shape(images), tf.random.experimental.stateless_fold_in(seed, 7))
    return tf.clip_by_value(images + sigma * noise, 0.0, 1.0)


def mixup(
    images: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor, alpha: float, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Mixup: each image blended with a partner from the same (shuffled) batch, the batch rolled by one, by a
    share lam ~ Beta(alpha, alpha) folded to lam >= 0.5 so every image stays mostly itself; its target and loss
    weight are blended by the same share, so a target stays a distribution."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    # Beta(a, a) as g1 / (g1 + g2) with g1, g2 ~ Gamma(a): TensorFlow has no stateless Beta.
    g1 = tf.random.stateless_gamma([batch], seeds[0], alpha)
    g2 = tf.random.stateless_gamma([batch], seeds[1], alpha)
    lam = g1 / tf.maximum(g1 + g2, 1e-12)
    lam = tf.maximum(lam, 1.0 - lam)
    partner = lambda t: tf.roll(t, shift=1, axis=0)  # noqa: E731
    lam_images = tf.reshape(lam, [-1, 1, 1, 1])
    images = lam_images * images + (1.0 - lam_images) * partner(images)
    targets = lam[:, None] * targets + (1.0 - lam[:, None]) * partner(targets)
    weights = lam * weights + (1.0 - lam) * partner(weights)
    return images, targets, weights
