"""What the trust layer needs from a classifier export: feature, class-map and check outputs, and the input-check fit.

``trust_model`` rebuilds a classifier whose layers form one chain (VGG16 base + dense head, or the
tiny test CNN) with three extra outputs: the penultimate features (the input of the final softmax
layer, whose ReLU gates Grad-CAM), the last convolution's maps projected onto the features' gradient
directions (``feature_projection``), from which the runtime computes each image's exact Grad-CAM map
(``runtime.explain``), and the spatial mean of the conv maps one resolution earlier (VGG16:
block4_conv3), which the input check scores. The probabilities are unchanged and the maps equal
TensorFlow's Grad-CAM (checked).
``fit_artifact_input_check`` runs an exported artifact through the runtime backend on training and val
images and fits ``runtime.inputcheck`` on its own (int8) features.

TensorFlow is imported inside the functions (``pip install tumorscope[export]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.export.deps import require
from tumorscope.runtime.explain import cam_head, class_maps_from_outputs
from tumorscope.runtime.inputcheck import encode_array, fit_input_check, image_statistics
from tumorscope.runtime.spec import ModelSpec

__all__ = ["FEATURES_NAME", "CAM_NAME", "CHECK_NAME", "TrustImages", "trust_model", "trust_spec",
           "fit_artifact_input_check", "feature_projection", "grad_cam_maps",
           "trust_images_from_data", "DEFAULT_TRUST_COUNT",
           "tumor_free_val_images", "fit_confident_area"]

FEATURES_NAME = "features"
CAM_NAME = "class_maps"
CHECK_NAME = "check_features"
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
    """The segmenter's tumour-free val slices (``notumor-val``: the classifier's val ``notumor`` images), as inputs."""
    from tumorscope.datasets import segmentation_items
    from tumorscope.runtime.preprocess import load_image, preprocess

    items = segmentation_items(root, "notumor-val")
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


def _last_conv_index(chain: list[Any]) -> int:
    keras = require("keras")
    convs = [i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.Conv2D)]
    last = chain[-1] if chain else None
    if not convs or not isinstance(last, keras.layers.Dense):
        raise ValueError("the classifier's trust outputs need a chain of layers with a Conv2D and a final Dense")
    return convs[-1]


def _check_index(chain: list[Any], last_conv: int) -> int:
    """Index of the layer whose output the input check averages: the input of the last pooling layer before the
    last conv (VGG16: block4_conv3), else the last conv itself."""
    keras = require("keras")
    pools = [i for i, layer in enumerate(chain[:last_conv])
             if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D))]
    return pools[-1] - 1 if pools and pools[-1] > 0 else last_conv


def _feature_part(chain: list[Any], last_conv: int) -> tuple[list[Any], Any | None]:
    """The layers from the last conv's output to the features (the final Dense's input), and the hidden Dense
    among them whose ReLU gates the features (None when the features are linear in the maps, e.g. pooling)."""
    keras = require("keras")
    part = chain[last_conv + 1 : -1]
    dense = [layer for layer in part if isinstance(layer, keras.layers.Dense)]
    if len(dense) > 1 or any(isinstance(layer, keras.layers.Conv2D) for layer in part):
        raise ValueError("the class-map export needs at most one hidden Dense between the last conv and the output")
    if dense and getattr(dense[0].activation, "__name__", "") != "relu":
        raise ValueError("the class-map export needs the hidden Dense to use ReLU")
    return part, dense[0] if dense else None


def _pre_features(part: list[Any], hidden: Any | None, maps: Any) -> Any:
    """The features before the hidden Dense's ReLU (the features themselves without a hidden Dense)."""
    from keras import ops

    x = maps
    for layer in part:
        if layer is hidden:
            return ops.matmul(x, layer.kernel) + layer.bias
        x = layer(x, training=False)
    return x


def feature_projection(model: Any, probes: np.ndarray) -> tuple[np.ndarray, bool]:
    """Spatially averaged gradients of every pre-activation feature with respect to the last conv maps.

    Returns ``(P, gated)``: ``P`` ``(K, U)`` float32 (K map channels, U features) and whether a ReLU gates the
    features. With a head of pooling/flatten/dropout layers and at most one ReLU Dense, ``P`` is the same for
    every image (checked on ``probes``), so each image's Grad-CAM weights of class c are
    ``alpha_c = P @ (gate * W[:, c])`` (W: the final Dense's kernel, gate: features > 0) and its class map is
    ``(A @ P) @ (gate * W[:, c])``: the graph outputs ``A @ P``, the runtime applies the gate and W.

    Raises:
        ValueError: a head this does not hold for.
    """
    tf = require("tensorflow")
    chain = _chain(model)
    last_conv = _last_conv_index(chain)
    part, hidden = _feature_part(chain, last_conv)
    projections = []
    for image in probes[:2]:
        x = tf.convert_to_tensor(image[None])
        for layer in chain[: last_conv + 1]:
            x = layer(x, training=False)
        with tf.GradientTape() as tape:
            tape.watch(x)
            pre = _pre_features(part, hidden, x)
        jacobian = tape.jacobian(pre, x)  # (1, U, 1, h, w, K)
        projections.append(tf.reduce_mean(jacobian[0, :, 0], axis=(1, 2)).numpy().T)
    if len(projections) == 2 and not np.allclose(projections[0], projections[1], rtol=1e-3,
                                                 atol=1e-6 * float(np.abs(projections[0]).max())):
        raise ValueError("the classifier's head routes gradients differently per image; "
                         "the class-map export cannot project it")
    return projections[0].astype(np.float32), hidden is not None


def trust_model(model: Any, images: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """``model`` with outputs ``[probabilities, features, class_maps, check_features]`` and the spec's
    ``cam_weights`` entry.

    ``class_maps`` is ``A @ P`` (``feature_projection``), one 1x1 convolution on the last conv maps ``A``; the
    runtime turns it into each image's Grad-CAM map of any class with ``cam_weights`` (``runtime.explain``).
    ``check_features`` is the spatial mean of the maps at ``_check_index``.

    Args:
        model: the Keras classifier (a chain of layers, possibly nested, ending in a softmax Dense).
        images: ``(N, H, W, 3)`` float32 TRAINING inputs: probes for the checks.

    Raises:
        ValueError: the model is not such a chain, its rebuilt probabilities differ from the original's, or the
            runtime's class maps differ from Grad-CAM computed by TensorFlow.
    """
    keras = require("keras")
    chain = _chain(model)
    last_conv = _last_conv_index(chain)
    projection, gated = feature_projection(model, images)
    check_index = _check_index(chain, last_conv)
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), name=model.inputs[0].name.split(":")[0])
    x, maps, features, check = inputs, None, None, None
    for i, layer in enumerate(chain):
        if i == len(chain) - 1:
            features = x
        x = layer(x)
        if i == last_conv:
            maps = x
        if i == check_index:
            check = keras.layers.GlobalAveragePooling2D(name=CHECK_NAME)(x)
    cam = keras.layers.Conv2D(projection.shape[1], 1, use_bias=False, name=CAM_NAME)
    class_maps = cam(maps)
    cam.set_weights([projection[None, None]])
    rebuilt = keras.Model(inputs, [x, features, class_maps, check], name=f"{model.name}_trust")
    entry = {"weights": encode_array(np.asarray(chain[-1].kernel, np.float32)), "gated": gated}
    probe = images[: min(8, len(images))]
    probabilities, probe_features, probe_maps, _ = rebuilt.predict(probe, verbose=0)
    difference = float(np.max(np.abs(probabilities - model.predict(probe, verbose=0))))
    if difference > 1e-4:
        raise ValueError(f"the rebuilt classifier differs from the original (max |dprob| {difference:.2g}); "
                         "it is not a single chain of layers")
    got = class_maps_from_outputs(probe_maps, probe_features, *cam_head(entry))  # as the runtime reads it
    want = grad_cam_maps(model, probe)
    error = float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1e-12)
    if error > 1e-3:
        raise ValueError(f"the exported class maps differ from Grad-CAM (relative error {error:.2g})")
    return rebuilt, entry


def grad_cam_maps(model: Any, images: np.ndarray) -> np.ndarray:
    """Grad-CAM maps (before ReLU) of every class, computed by TensorFlow: ``(N, h, w, C)`` float32.

    For image n and class c: ``A_n @ alpha_nc``, ``alpha_nc`` the spatial mean of d logit_c / d A_n over the last
    conv maps A (Selvaraju et al., "Grad-CAM", ICCV 2017). The reference the exported maps are checked against.
    """
    from keras import ops

    tf = require("tensorflow")
    chain = _chain(model)
    last_conv = _last_conv_index(chain)
    x = tf.convert_to_tensor(images)
    for layer in chain[: last_conv + 1]:
        x = layer(x, training=False)
    out = []
    for c in range(int(chain[-1].units)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            h = x
            for layer in chain[last_conv + 1 : -1]:
                h = layer(h, training=False)
            score = tf.reduce_sum(ops.matmul(h, chain[-1].kernel)[:, c])
        alpha = tf.reduce_mean(tape.gradient(score, x), axis=(1, 2))  # (N, K)
        out.append(tf.einsum("nhwk,nk->nhw", x, alpha).numpy())
    return np.stack(out, axis=-1).astype(np.float32)


def trust_spec(spec: ModelSpec, cam_weights: dict[str, Any]) -> ModelSpec:
    """``spec`` naming the three extra outputs, with ``trust_model``'s ``cam_weights`` (the input-check parameters
    are added after the fit)."""
    return spec.replace(features_name=FEATURES_NAME, cam_name=CAM_NAME, check_name=CHECK_NAME, cam_weights=cam_weights,
                        input_check={})


def fit_artifact_input_check(path: Path, spec: ModelSpec, images: TrustImages, predicted_labels: np.ndarray | None,
                             batch: int = 16) -> dict[str, Any]:
    """Fit the input check on the artifact's own features; returns the ``ModelSpec.input_check`` entry.

    Args:
        path: the exported artifact (``.onnx`` / ``.tflite``) with its sidecar spec naming ``check_name``.
        spec: that spec.
        images: the trust images.
        predicted_labels: labels for ``images.train`` when it has none (the original's predictions).
    """
    from tumorscope.runtime.backends import open_backend

    backend = open_backend(path)
    try:
        def features(x: np.ndarray) -> np.ndarray:
            return np.concatenate([backend.run_outputs(x[s : s + batch])[spec.check_output]
                                   for s in range(0, len(x), batch)])

        train, val = features(images.train), features(images.val)
    finally:
        backend.close()
    labels = images.train_labels if images.train_labels is not None else predicted_labels
    model, info = fit_input_check(train, labels, val, train_stats=image_statistics(images.train),
                                  val_stats=image_statistics(images.val))
    return model.to_spec(**info)
