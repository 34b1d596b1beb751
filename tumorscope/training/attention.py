"""Attention guidance for the classifier: a Grad-CAM pointing loss on images with expert tumour masks.

The explanation the runtime shows is Grad-CAM at the last convolution (VGG16 ``block5_conv3``, 8x8 cells
at 128x128). ``AttentionGuidedTail`` trains the classifier's tail with cross-entropy plus ``weight`` times
``pointing_loss``: the true class's Grad-CAM map, scaled to its peak, becomes a distribution over the cells
by a softmax at temperature ``tau``, and the loss is minus the log of the mass on cells that hold tumour. It
pulls the map's peak into the tumour (what the pointing game scores) without forcing all evidence there.
Images without a mask (tumour-free, or no expert mask) add cross-entropy only.

TensorFlow backend (the gradient of the class score inside the training step needs ``tf.GradientTape``).
"""

from __future__ import annotations

import cv2
import keras
import numpy as np
import tensorflow as tf
from keras import ops

__all__ = ["DEFAULT_TAU", "tumor_cells", "pointing_loss", "grad_cam", "AttentionGuidedTail"]

DEFAULT_TAU = 0.1
"""Softmax temperature of the pointing loss over peak-scaled Grad-CAM cells (small: close to the arg-max)."""


def tumor_cells(masks: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``(N, H, W)`` {0, 1} masks -> ``(N, h, w)`` float32: 1 where a map cell holds any tumour pixel."""
    out = np.zeros((len(masks), *grid), np.float32)
    for i, mask in enumerate(masks):
        if mask.any():
            out[i] = cv2.resize(mask.astype(np.float32), grid[::-1], interpolation=cv2.INTER_AREA) > 0
    return out


def pointing_loss(cam, cells, tau: float = DEFAULT_TAU):
    """Per-image ``-log`` (softmax mass of ``cam / peak / tau`` on the tumour ``cells``); 0 without tumour cells.

    Args:
        cam: ``(B, h, w)`` non-negative Grad-CAM maps.
        cells: ``(B, h, w)`` {0, 1} tumour cells.
    """
    flat = ops.reshape(cam, (ops.shape(cam)[0], -1))
    flat = flat / (ops.max(flat, axis=1, keepdims=True) + 1e-6) / tau
    inside = ops.reshape(cells, ops.shape(flat))
    has = ops.cast(ops.max(inside, axis=1) > 0, flat.dtype)
    mass_inside = ops.logsumexp(flat + ops.log(inside + 1e-9), axis=1)
    return (ops.logsumexp(flat, axis=1) - mass_inside) * has


def _split_at_last_conv(tail: keras.Model) -> tuple[list, list, keras.layers.Dense]:
    layers = [layer for layer in tail.layers if not isinstance(layer, keras.layers.InputLayer)]
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Conv2D)]
    if not convs or not isinstance(layers[-1], keras.layers.Dense):
        raise ValueError("attention guidance needs a tail with a Conv2D and a final Dense layer")
    return layers[: convs[-1] + 1], layers[convs[-1] + 1 : -1], layers[-1]


def grad_cam(tail: keras.Model, x, labels, training: bool = False):
    """The tail's class probabilities and the Grad-CAM maps of ``labels`` at its last convolution.

    Grad-CAM: ReLU of the last conv's maps weighted by the spatially averaged gradient of the class score
    (the final layer's pre-softmax output), as ``export.trust.grad_cam_maps`` and the runtime compute it.

    Returns:
        ``(probabilities (B, C), cam (B, h, w))``, differentiable with respect to the tail's weights.
    """
    to_maps, to_features, final = _split_at_last_conv(tail)
    maps = x
    for layer in to_maps:
        maps = layer(maps)
    with tf.GradientTape() as inner:
        inner.watch(maps)
        features = maps
        for layer in to_features:
            features = layer(features, training=training)
        logits = ops.matmul(features, final.kernel) + final.bias
        score = ops.sum(logits * ops.one_hot(ops.cast(labels, "int32"), ops.shape(logits)[-1]), axis=1)
    weights = ops.mean(inner.gradient(score, maps), axis=(1, 2), keepdims=True)
    cam = ops.relu(ops.sum(weights * maps, axis=-1))
    return ops.softmax(logits, axis=-1), cam


class AttentionGuidedTail(keras.Model):
    """Trains ``tail`` (cached features -> probabilities) on cross-entropy + ``weight`` x ``pointing_loss``.

    ``fit`` takes batches ``(x, (labels, cells))``; validation data ``(x, labels)`` is scored by
    cross-entropy and accuracy, so ``val_loss`` / ``val_accuracy`` mean what they mean for the plain tail.
    The tail's own weights are trained (and saved with the model that shares its layers).
    """

    def __init__(self, tail: keras.Model, weight: float, tau: float = DEFAULT_TAU, **kwargs):
        super().__init__(**kwargs)
        self.tail, self.weight, self.tau = tail, float(weight), float(tau)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.pointing_tracker = keras.metrics.Mean(name="pointing_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.build(tail.input_shape)

    def build(self, input_shape) -> None:
        """Nothing to create: the weights are the (built) tail's."""
        self.built = True

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.pointing_tracker, self.accuracy_tracker]

    def call(self, x, training: bool = False):
        return self.tail(x, training=training)

    def train_step(self, data):
        x, (labels, cells) = data
        with tf.GradientTape() as tape:
            probabilities, cam = grad_cam(self.tail, x, labels, training=True)
            cross_entropy = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
            pointing = ops.mean(pointing_loss(cam, cells, self.tau))
            loss = cross_entropy + self.weight * pointing
        variables = self.tail.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        self.loss_tracker.update_state(loss)
        self.pointing_tracker.update_state(pointing)
        self.accuracy_tracker.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, labels = data
        probabilities = self.tail(x, training=False)
        self.loss_tracker.update_state(ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities)))
        self.accuracy_tracker.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics if m is not self.pointing_tracker}
