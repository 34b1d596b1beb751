"""What the trust layer needs from a classifier export: feature and class-map outputs, and the input-check fit.

``trust_model`` rebuilds a classifier whose layers form one chain (VGG16 base + dense head, or the
tiny test CNN) with two extra outputs: the penultimate features (the input of the final softmax
layer) for the input check, and class activation maps, the last convolution's maps projected onto
per-class Grad-CAM weights averaged over TRAINING images (``runtime.explain``). The probabilities
are unchanged (checked). ``fit_artifact_input_check`` runs an exported artifact through the runtime
backend on training and val images and fits ``runtime.inputcheck`` on its own (int8) features.

TensorFlow is imported inside the functions (``pip install tumorscope[export]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.export.deps import require
from tumorscope.runtime.inputcheck import fit_input_check, image_statistics
from tumorscope.runtime.spec import ModelSpec

__all__ = ["FEATURES_NAME", "CAM_NAME", "TrustImages", "trust_model", "trust_spec", "fit_artifact_input_check",
           "trust_images_from_data", "DEFAULT_TRUST_COUNT",
           "tumor_free_val_images", "fit_confident_area"]

FEATURES_NAME = "features"
CAM_NAME = "class_maps"
DEFAULT_TRUST_COUNT = 2000
"""TRAINING images the input check is fitted on (stratified, deterministic)."""


@dataclass(frozen=True)
class TrustImages:
    """Images for the trust fit.

    Attributes:
        train: ``(N, H, W, 3)`` float32 TRAINING inputs (Grad-CAM weights and the Gaussian).
        train_labels: ``(N,)`` int class index of each (true labels; None: the original's predictions).
        val: ``(M, H, W, 3)`` float32 val inputs: the input-check threshold rejects at most 1 % of them.
    """

    train: np.ndarray
    train_labels: np.ndarray | None
    val: np.ndarray


def trust_images_from_data(root: Path, spec: ModelSpec, train_count: int = DEFAULT_TRUST_COUNT) -> TrustImages:
    """``train_count`` stratified TRAINING images with true labels and every val image, from the data root."""
    from tumorscope.export.calibration import select_items
    from tumorscope.runtime.preprocess import load_image, preprocess

    def load(items) -> np.ndarray:
        return np.stack([preprocess(load_image(i.image), spec.input_size, spec.scale) for i in items])

    train = select_items(root, "classifier", "train", train_count)
    val = select_items(root, "classifier", "val", 10**9)
    return TrustImages(load(train), np.array([i.label for i in train]), load(val))


def tumor_free_val_images(root: Path, spec: ModelSpec) -> np.ndarray:
    """Every tumour-free (``notumor``) image of the classifier's val split, as segmenter inputs."""
    from tumorscope.datasets import CLASS_NAMES, classification_items
    from tumorscope.runtime.preprocess import load_image, preprocess

    items = [i for i in classification_items(root, "val") if i.label == CLASS_NAMES.index("notumor")]
    return np.stack([preprocess(load_image(i.image), spec.input_size, spec.scale) for i in items])


def fit_confident_area(path: Path, images: np.ndarray, allowed: float = 0.01, batch: int = 16) -> float:
    """The segmenter's confident area (``runtime.consistency.confident_area_pct``) that at most ``allowed`` of
    tumour-free ``images`` exceed.

    Runs the exported artifact itself; the result is ``ModelSpec.confident_area_pct``.
    """
    from tumorscope.runtime.backends import open_backend
    from tumorscope.runtime.consistency import confident_area_pct
    from tumorscope.runtime.postprocess import probability_map

    backend = open_backend(path)
    try:
        peaks = np.array([confident_area_pct(p) for s in range(0, len(images), batch)
                          for p in probability_map(backend.run(images[s : s + batch]))])
    finally:
        backend.close()
    ordered = np.sort(peaks)
    return round(float(ordered[len(ordered) - 1 - int(np.floor(allowed * len(ordered)))]), 6)


def _chain(model: Any) -> list[Any]:
    keras = require("keras")
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        layers.extend(_chain(layer) if isinstance(layer, keras.Model) else [layer])
    return layers


def _logits(head: list[Any], maps: Any) -> Any:
    """Run ``head`` (the layers after the last conv) on ``maps``; the final Dense without its softmax."""
    from keras import ops

    x = maps
    for layer in head[:-1]:
        x = layer(x, training=False)
    last = head[-1]
    return ops.matmul(x, last.kernel) + last.bias


def grad_cam_weights(model: Any, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Grad-CAM channel weights of every class averaged over ``images``: ``(C, K)`` float32.

    For each image and class k: the spatial mean of d logit_k / d A over the last conv maps A.
    """
    tf = require("tensorflow")
    chain = _chain(model)
    last_conv = _last_conv_index(chain)
    total = None
    for start in range(0, len(images), batch):
        x = tf.convert_to_tensor(images[start : start + batch])
        for layer in chain[: last_conv + 1]:
            x = layer(x, training=False)
        per_class = []
        for k in range(int(chain[-1].units)):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = tf.reduce_sum(_logits(chain[last_conv + 1 :], x)[:, k])
            per_class.append(tf.reduce_sum(tf.reduce_mean(tape.gradient(score, x), axis=(1, 2)), axis=0).numpy())
        summed = np.stack(per_class, axis=1)
        total = summed if total is None else total + summed
    return (total / len(images)).astype(np.float32)


def _last_conv_index(chain: list[Any]) -> int:
    keras = require("keras")
    convs = [i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.Conv2D)]
    last = chain[-1] if chain else None
    if not convs or not isinstance(last, keras.layers.Dense):
        raise ValueError("the classifier's trust outputs need a chain of layers with a Conv2D and a final Dense")
    return convs[-1]


def trust_model(model: Any, images: np.ndarray) -> Any:
    """``model`` with outputs ``[probabilities, features, class_maps]``; same layers and weights.

    Args:
        model: the Keras classifier (a chain of layers, possibly nested, ending in a softmax Dense).
        images: ``(N, H, W, 3)`` float32 TRAINING inputs for the Grad-CAM weights.

    Raises:
        ValueError: the model is not such a chain, or the rebuilt probabilities differ from the original's.
    """
    keras = require("keras")
    chain = _chain(model)
    last_conv = _last_conv_index(chain)
    weights = grad_cam_weights(model, images)
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), name=model.inputs[0].name.split(":")[0])
    x, maps, features = inputs, None, None
    for i, layer in enumerate(chain):
        if i == len(chain) - 1:
            features = x
        x = layer(x)
        if i == last_conv:
            maps = x
    cam = keras.layers.Conv2D(weights.shape[1], 1, use_bias=False, name=CAM_NAME)
    class_maps = cam(maps)
    cam.set_weights([weights[None, None]])
    rebuilt = keras.Model(inputs, [x, features, class_maps], name=f"{model.name}_trust")
    probe = images[: min(8, len(images))]
    difference = float(np.max(np.abs(rebuilt.predict(probe, verbose=0)[0] - model.predict(probe, verbose=0))))
    if difference > 1e-4:
        raise ValueError(f"the rebuilt classifier differs from the original (max |dprob| {difference:.2g}); "
                         "it is not a single chain of layers")
    return rebuilt


def trust_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` naming the two extra outputs (the input-check parameters are added after the fit)."""
    return spec.replace(features_name=FEATURES_NAME, cam_name=CAM_NAME, input_check={})


def fit_artifact_input_check(path: Path, spec: ModelSpec, images: TrustImages, predicted_labels: np.ndarray | None,
                             batch: int = 16) -> dict[str, Any]:
    """Fit the input check on the artifact's own features; returns the ``ModelSpec.input_check`` entry.

    Args:
        path: the exported artifact (``.onnx`` / ``.tflite``) with its sidecar spec naming ``features_name``.
        spec: that spec.
        images: the trust images.
        predicted_labels: labels for ``images.train`` when it has none (the original's predictions).
    """
    from tumorscope.runtime.backends import open_backend

    backend = open_backend(path)
    try:
        def features(x: np.ndarray) -> np.ndarray:
            return np.concatenate([backend.run_outputs(x[s : s + batch])[spec.features_name]
                                   for s in range(0, len(x), batch)])

        train, val = features(images.train), features(images.val)
    finally:
        backend.close()
    labels = images.train_labels if images.train_labels is not None else predicted_labels
    model, info = fit_input_check(train, labels, val, train_stats=image_statistics(images.train),
                                  val_stats=image_statistics(images.val))
    return model.to_spec(**info)
