"""Keras model builders and the segmentation loss.

Both models take RGB float32 in [0, 1] (the runtime's ``preprocess`` output); anything else
the network needs (ImageNet normalization) lives inside the graph.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

__all__ = [
    "IMAGENET_MEAN_RGB",
    "FINE_TUNE_LAYERS",
    "build_classifier",
    "set_backbone_trainable",
    "MIRROR_LAYERS",
    "SEGMENTER_ENCODERS",
    "build_segmenter",
    "dice_coefficient",
    "hard_dice",
    "dice_loss",
    "tumor_presence_loss",
    "segmenter_loss",
]

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
"""Per-channel means that ``keras.applications.vgg16.preprocess_input`` subtracts (RGB order)."""
FINE_TUNE_LAYERS = ("block5_conv1", "block5_conv2", "block5_conv3")
"""The last three VGG16 conv layers, unfrozen in phase 2."""


def _vgg16_base(input_shape: tuple[int, int, int], weights: str | Path | None) -> keras.Model:
    """VGG16 conv base; ``weights`` is a local .h5 path, ``"imagenet"`` (downloads) or None."""
    weights_arg = str(weights) if weights is not None else None
    if weights_arg not in (None, "imagenet") and not Path(weights_arg).is_file():
        raise FileNotFoundError(f"{weights_arg}: backbone weights file not found; fix --backbone-weights")
    base = keras.applications.VGG16(include_top=False, weights=weights_arg, input_shape=input_shape)
    # preprocess_input feeds BGR; we feed RGB, so reverse the input channels of the first kernel.
    first = base.get_layer("block1_conv1")
    kernel, bias = first.get_weights()
    first.set_weights([kernel[:, :, ::-1, :], bias])
    return base


def _imagenet_norm() -> layers.Layer:
    """Frozen 1x1 conv computing ``x * 255 - mean`` per channel: exact, and exports cleanly to
    ONNX and full-integer TFLite (per-channel int8 weights), unlike a Normalization layer."""
    kernel = np.zeros((1, 1, 3, 3), dtype="float32")
    kernel[0, 0, [0, 1, 2], [0, 1, 2]] = 255.0
    bias = -np.array(IMAGENET_MEAN_RGB, dtype="float32")
    return layers.Conv2D(3, 1, name="imagenet_norm", trainable=False,
                         kernel_initializer=keras.initializers.Constant(kernel),
                         bias_initializer=keras.initializers.Constant(bias))


def build_classifier(
    num_classes: int = 4,
    input_size: tuple[int, int] = (128, 128),
    backbone_weights: str | Path | None = None,
    dropout: tuple[float, float] = (0.3, 0.2),
    dense_units: int = 128,
) -> keras.Model:
    """VGG16 transfer-learning classifier: [0,1] RGB -> softmax over ``num_classes``.

    Graph: x*255 - ImageNet mean (RGB) -> VGG16 conv base (first kernel channel-reversed, so
    the result equals ``vgg16.preprocess_input`` on BGR) -> Flatten -> Dropout -> Dense ReLU ->
    Dropout -> Dense softmax. The base starts frozen (phase 1).

    Args:
        backbone_weights: ImageNet ``include_top=False`` .h5 path, ``"imagenet"`` or None (random).
    """
    shape = (*input_size, 3)
    inputs = keras.Input(shape=shape, name="image")
    x = _imagenet_norm()(inputs)
    base = _vgg16_base(shape, backbone_weights)
    base.trainable = False
    x = base(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout[0], name="dropout_1")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout[1], name="dropout_2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tumorscope_classifier")


def set_backbone_trainable(model: keras.Model, layer_names: tuple[str, ...] = FINE_TUNE_LAYERS) -> None:
    """Phase 2: unfreeze ``layer_names`` of the VGG16 base, keep the rest frozen."""
    base = model.get_layer("vgg16")
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name in layer_names


def _conv_block(x, filters: int, name: str):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


SEGMENTER_ENCODERS = ("plain", "vgg16")
"""``plain``: U-Net conv blocks from scratch; ``vgg16``: the first VGG16 blocks, ImageNet-initialized."""


def _plain_encoder(inputs, base_filters: int, depth: int):
    x, skips = inputs, []
    for level in range(depth):
        x = _conv_block(x, base_filters * 2**level, f"enc{level + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level + 1}")(x)
    return x, skips


def _vgg16_encoder(inputs, input_size: tuple[int, int], depth: int, weights: str | Path | None):
    """VGG16 blocks 1..``depth`` (block 1 frozen) after the in-graph ImageNet normalization;
    the skips are each block's last conv output, as in TernausNet (Iglovikov & Shvets, 2018)."""
    base = _vgg16_base((*input_size, 3), weights)
    x, skips = _imagenet_norm()(inputs), []
    for layer in base.layers[1:]:
        if int(layer.name[len("block")]) > depth:
            break
        if isinstance(layer, layers.MaxPooling2D):
            skips.append(x)
        layer.trainable = not layer.name.startswith("block1_")
        x = layer(x)
    return x, skips


MIRROR_LAYERS = ("mirror_gray", "mirror_flip")
"""The mirror channel's fixed layers: built from the input size, never trained (a warm start rebuilds them)."""


def _with_mirror(inputs, input_size: tuple[int, int]):
    """``inputs`` plus a fourth channel: their gray level mirrored left-right, so the first convolutions can
    compare each pixel with its opposite hemisphere (tumours break the brain's symmetry; the sella, the ventricles
    and paired lobes do not). Fixed standard layers (a 1x1 conv averaging the channels, a dense anti-identity
    along the width), so the graph exports to ONNX and full-integer TFLite like the rest."""
    height, width = input_size
    average = keras.initializers.Constant(np.full((1, 1, 3, 1), 1 / 3, "float32"))
    gray = layers.Conv2D(1, 1, use_bias=False, trainable=False, name=MIRROR_LAYERS[0],
                         kernel_initializer=average)(inputs)
    flipped = layers.Dense(width, use_bias=False, trainable=False, name=MIRROR_LAYERS[1],
                           kernel_initializer=keras.initializers.Constant(np.eye(width, dtype="float32")[::-1]))(
        layers.Reshape((height, width), name="mirror_rows")(gray))
    mirrored = layers.Reshape((height, width, 1), name="mirror_image")(flipped)
    return layers.Concatenate(name="with_mirror")([inputs, mirrored])


def build_segmenter(
    input_size: tuple[int, int] = (128, 128),
    base_filters: int = 16,
    depth: int = 4,
    encoder: str = "plain",
    backbone_weights: str | Path | None = None,
    mirror: bool = False,
) -> keras.Model:
    """U-Net: [0,1] RGB ``(H, W, 3)`` -> tumor probability ``(H, W, 1)``.

    ``depth`` encoder blocks (two 3x3 conv-BN-ReLU, then 2x2 max-pool, filters doubling from
    ``base_filters``), a bottleneck block, ``depth`` decoder blocks (2x2 transposed conv, concat
    with the skip, conv block), and a 1x1 conv with sigmoid (Ronneberger et al., MICCAI 2015).
    With ``encoder="vgg16"`` the encoder is VGG16 blocks 1..``depth`` (``depth`` <= 5, conv
    blocks + max-pool too) loaded from ``backbone_weights``; bottleneck and decoder are unchanged. With
    ``mirror`` (plain encoder only) the encoder also sees the image mirrored left-right (``_with_mirror``).
    """
    if encoder not in SEGMENTER_ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(SEGMENTER_ENCODERS)}")
    if encoder == "vgg16" and not 1 <= depth <= 5:
        raise ValueError(f"the vgg16 encoder has 5 blocks; depth must be 1..5, got {depth}")
    if mirror and encoder != "plain":
        raise ValueError("the mirror channel needs the plain encoder (VGG16 takes exactly 3 channels)")
    if input_size[0] % 2**depth or input_size[1] % 2**depth:
        raise ValueError(f"input size {input_size} must be divisible by 2**depth = {2**depth}")
    inputs = keras.Input(shape=(*input_size, 3), name="image")
    if encoder == "vgg16":
        x, skips = _vgg16_encoder(inputs, input_size, depth, backbone_weights)
    else:
        x, skips = _plain_encoder(_with_mirror(inputs, input_size) if mirror else inputs, base_filters, depth)
    x = _conv_block(x, base_filters * 2**depth, "bottleneck")
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level + 1}")(x)
        x = layers.Concatenate(name=f"skip{level + 1}")([x, skips[level]])
        x = _conv_block(x, filters, f"dec{level + 1}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inputs, outputs, name="tumorscope_segmenter")


def _per_sample_dice(y_true, y_pred, smooth: float):
    """Soft Dice of each sample and whether its ground truth has any tumour pixel, both ``(N,)``."""
    y_true = ops.cast(y_true, y_pred.dtype)
    axes = tuple(range(1, len(y_pred.shape)))
    intersection = ops.sum(y_true * y_pred, axis=axes)
    true_sum = ops.sum(y_true, axis=axes)
    dice = (2.0 * intersection + smooth) / (true_sum + ops.sum(y_pred, axis=axes) + smooth)
    return dice, ops.cast(true_sum > 0, y_pred.dtype)


def dice_coefficient(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice per sample, averaged over the batch: ``(2|A.B| + s) / (|A| + |B| + s)``.

    Args:
        y_true, y_pred: ``(N, H, W, 1)`` float, masks in {0, 1} and probabilities in [0, 1].
    """
    return ops.mean(_per_sample_dice(y_true, y_pred, smooth)[0])


def dice_loss(y_true, y_pred):
    """``1 - soft Dice``, averaged over the samples whose ground truth has tumour pixels (0 if none do).

    An empty ground truth would cost ``1 - 1 / (1 + predicted sum)``: a handful of faint pixels on a
    tumour-free slice would weigh as much as missing a whole tumour, and training with tumour-free
    slices would learn to under-segment. Those slices are left to the cross-entropy term.
    """
    dice, has_tumor = _per_sample_dice(y_true, y_pred, 1.0)
    return ops.sum((1.0 - dice) * has_tumor) / ops.maximum(ops.sum(has_tumor), 1.0)


def hard_dice(y_true, y_pred, threshold: float = 0.5):
    """Dice of the thresholded masks per sample, averaged (smooth 1): an empty prediction on a tumour-free
    slice scores 1, a single false pixel 0.5, more pixels less (the model-selection metric)."""
    return dice_coefficient(y_true, ops.cast(y_pred > threshold, y_pred.dtype))


def tumor_presence_loss(y_true, y_pred):
    """Cross-entropy between "the slice has tumour" and the slice's peak probability.

    It pushes the highest pixel of a tumour-free slice below the mask threshold (what "no tumour painted
    on a normal brain" means) and costs nothing once a tumour slice has one confident pixel.
    """
    axes = tuple(range(1, len(y_pred.shape)))
    has_tumor = ops.cast(ops.max(ops.cast(y_true, y_pred.dtype), axis=axes) > 0, y_pred.dtype)
    return ops.mean(keras.losses.binary_crossentropy(has_tumor[:, None], ops.max(y_pred, axis=axes)[:, None]))


def segmenter_loss(presence_weight: float = 1.0):
    """The segmenter's training loss ``(y_true, y_pred) -> scalar``: pixel binary cross-entropy (every sample) +
    Dice loss (samples with tumour) + ``presence_weight`` x ``tumor_presence_loss``."""

    def segmenter_loss(y_true, y_pred):
        bce = ops.mean(keras.losses.binary_crossentropy(ops.cast(y_true, y_pred.dtype), y_pred))
        return bce + dice_loss(y_true, y_pred) + presence_weight * tumor_presence_loss(y_true, y_pred)

    return segmenter_loss
