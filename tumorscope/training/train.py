"""Training loops for the classifier and the segmenter, with checkpoints, logs and resume.

Classifier: VGG16 blocks 1-4 stay frozen in both phases, so their output is computed once per
augmented copy of the training set and cached (``features_<k>.npy``); the trainable tail
(block 5 + head) then trains on the cache, one random copy per image per epoch. The result is
the same Keras model the plain recipe trains, at a fraction of the CPU time. With an attention weight, the
tail also learns to point its Grad-CAM map at expert tumour masks (``training.attention``).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tumorscope.assess.items import read_mask
from tumorscope.datasets import (
    BRISC,
    CLASS_NAMES,
    SEED,
    SplitItem,
    classification_items,
    classifier_tumor_masks,
    segmentation_items,
    tumor_types,
)
from tumorscope.runtime.preprocess import scale_pixels
from tumorscope.runtime.spec import ModelSpec, save_spec
from tumorscope.training.attention import AttentionGuidedTail, tumor_cells
from tumorscope.training.data import augment, load_images, load_masks, random_affine
from tumorscope.training.models import (
    FINE_TUNE_LAYERS,
    MIRROR_LAYERS,
    build_classifier,
    build_segmenter,
    hard_dice,
    segmenter_loss,
)

__all__ = ["TrainResult", "train_classifier", "train_segmenter", "save_for_inference", "library_versions",
           "source_balanced_weights", "classifier_spec", "segmenter_spec", "min_region_pct",
           "TUMOR_FREE_SHARE"]

TUMOR_FREE_SHARE = 0.2
"""Share of each segmenter training batch drawn from tumour-free slices (empty masks)."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run wrote and reached."""

    model_path: Path
    out_dir: Path
    epochs: int
    best_val: float
    metric: str
    seconds: float


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a trained model."""
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__}


def classifier_spec(input_size: tuple[int, int]) -> ModelSpec:
    """The spec of a trained classifier (``build_classifier``'s contract), with this machine's library versions."""
    return ModelSpec(task="classifier", input_size=tuple(input_size), labels=CLASS_NAMES,
                     output_name="probabilities", versions=library_versions())


def segmenter_spec(input_size: tuple[int, int], min_region_pct: float = 0.0) -> ModelSpec:
    """The spec of a trained segmenter (``build_segmenter``'s contract), with this machine's library versions
    and its noise floor ``min_region_pct`` (see ``min_region_pct``)."""
    return ModelSpec(task="segmenter", input_size=tuple(input_size), labels=("tumor",), output_name="mask",
                     versions=library_versions(), min_region_pct=min_region_pct)


def min_region_pct(items: Sequence[SplitItem]) -> float:
    """Half the smallest tumour an expert drew in ``items``' masks, as % of its slice (rounded to 4 decimals).

    The segmenter's spec drops predicted regions below it (``runtime.postprocess.mask_at_size``): no training
    tumour is that small, so such specks are noise (on normal brains they were most of the false findings).
    """
    areas = [100.0 * float(read_mask(item.mask).mean()) for item in items if item.mask is not None]
    areas = [a for a in areas if a > 0]
    if not areas:
        raise ValueError("no tumour masks among the training items; cannot set min_region_pct")
    return round(min(areas) / 2, 4)


def _subset(items: list[SplitItem], limit: int | None, seed: int) -> list[SplitItem]:
    if limit is None or limit >= len(items):
        return items
    chosen = np.random.default_rng(seed).choice(len(items), size=limit, replace=False)
    return [items[i] for i in sorted(chosen)]


def source_balanced_weights(items: list[SplitItem]) -> np.ndarray:
    """Sampling weights that give the tumour-free class's two sources equal shares.

    Nickparvar's ``notumor`` images are mostly axial T2/FLAIR (Br35H) while the tumour classes are
    T1 contrast-enhanced in every plane, so plane and sequence alone would predict the label. The
    BRISC tumour-free T1 slices (every plane) get the same total weight as the Nickparvar ones; the
    class's total weight and every other item's weight (1) are unchanged.

    Returns:
        ``(N,)`` float64 weights, mean 1 over the class.
    """
    notumor = CLASS_NAMES.index("notumor")
    brisc = np.array([i.label == notumor and BRISC in i.image.parts for i in items])
    other = np.array([i.label == notumor for i in items]) & ~brisc
    weights = np.ones(len(items))
    if brisc.any() and other.any():
        total = brisc.sum() + other.sum()
        weights[brisc] = total / 2 / brisc.sum()
        weights[other] = total / 2 / other.sum()
    return weights


class _CachedFeatures(keras.utils.PyDataset):
    """Batches of cached block-4 features, one random augmented copy per image and epoch.

    Each epoch draws ``N`` items with replacement, with probability proportional to ``weights``. With
    ``cells`` (one ``(N, h, w)`` array of tumour cells per copy) the targets are ``(labels, cells)``.
    """

    def __init__(self, features: list[np.ndarray], labels: np.ndarray, batch_size: int, seed: int,
                 weights: np.ndarray, cells: list[np.ndarray] | None = None):
        super().__init__()
        self.features, self.labels, self.batch_size, self.cells = features, labels, batch_size, cells
        self.probabilities = weights / weights.sum()
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return int(np.ceil(len(self.labels) / self.batch_size))

    def on_epoch_end(self) -> None:
        self.order = self.rng.choice(len(self.labels), size=len(self.labels), p=self.probabilities)
        self.copy = self.rng.integers(0, len(self.features), size=len(self.labels))

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = np.stack([self.features[self.copy[r]][r] for r in rows]).astype(np.float32)
        if self.cells is None:
            return x, self.labels[rows]
        return x, (self.labels[rows], np.stack([self.cells[self.copy[r]][r] for r in rows]))


def _split_vgg(model: keras.Model, cut: str = "block4_pool") -> tuple[keras.Model, keras.Model]:
    """Split the classifier into a frozen stem (input..``cut``) and a tail (rest), sharing layers."""
    base = model.get_layer("vgg16")
    inputs = keras.Input(shape=model.input_shape[1:])
    x = model.get_layer("imagenet_norm")(inputs)
    conv_layers = base.layers[1:]
    names = [layer.name for layer in conv_layers]
    for layer in conv_layers[: names.index(cut) + 1]:
        x = layer(x)
    stem = keras.Model(inputs, x, name="stem")
    tail_in = keras.Input(shape=x.shape[1:])
    y = tail_in
    for layer in conv_layers[names.index(cut) + 1 :]:
        y = layer(y)
    for name in ("flatten", "dropout_1", "dense", "dropout_2", "probabilities"):
        y = model.get_layer(name)(y)
    return stem, keras.Model(tail_in, y, name="tail")


def _cache_features(stem: keras.Model, images: np.ndarray, path: Path, rng: np.random.Generator | None,
                    masks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Stem output for ``images`` (augmented with ``rng``, clean when None), cached as float16 .npy.

    With ``masks`` (``(N, H, W)``, flipped with their images) also the tumour cells at the stem's output grid
    (``attention.tumor_cells``), cached beside as ``<stem>_cells.npy``; else None.
    """
    cells_path = path.with_name(f"{path.stem}_cells.npy")
    if path.is_file() and (masks is None or cells_path.is_file()):
        cached = np.load(path, mmap_mode="r")
        if cached.shape[0] == len(images):
            return cached, None if masks is None else np.load(cells_path)
    x, masks = (scale_pixels(images), masks) if rng is None else augment(images, rng, masks)
    features = stem.predict(x, batch_size=64, verbose=0).astype(np.float16)
    np.save(path, features)
    if masks is None:
        return features, None
    cells = tumor_cells(masks, features.shape[1:3])
    np.save(cells_path, cells)
    return features, cells


def _warm_start(model: keras.Model, source: Path) -> None:
    """Load an earlier run's weights into ``model``: a ``.weights.h5`` of the same architecture, or a ``.keras``
    model whose layers are matched by name. A kernel with fewer input channels than ``model``'s (a segmenter
    without the mirror channel) is zero-padded: the added channels start switched off, the function unchanged.
    The mirror channel's fixed layers are kept as ``model`` built them, so a segmenter warm-starts at another input
    size (the convolutions do not depend on it).

    Raises:
        ValueError: a layer of ``source`` is missing from ``model`` or its weights do not fit.
    """
    if source.suffix != ".keras":
        model.load_weights(source)
        return
    for layer in keras.models.load_model(source, compile=False).layers:
        weights = layer.get_weights()
        if not weights or layer.name in MIRROR_LAYERS:
            continue
        try:
            target = model.get_layer(layer.name)
        except ValueError as exc:
            raise ValueError(f"{source}: layer {layer.name!r} is not in the new model; warm start needs the same "
                             "architecture") from exc
        shapes = [w.shape for w in target.get_weights()]
        fitted = [_pad_input_channels(w, shape, layer.name) for w, shape in zip(weights, shapes, strict=True)]
        target.set_weights(fitted)


def _pad_input_channels(weight: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    if weight.shape == shape:
        return weight
    if weight.ndim == 4 and weight.shape[:2] + weight.shape[3:] == shape[:2] + shape[3:] and weight.shape[2] < shape[2]:
        padded = np.zeros(shape, weight.dtype)
        padded[:, :, : weight.shape[2]] = weight
        return padded
    raise ValueError(f"layer {name!r}: weights of shape {weight.shape} do not fit {shape}")


def _callbacks(out: Path, tag: str, monitor: str, patience: int) -> list[keras.callbacks.Callback]:
    return [
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(2, patience // 2), min_lr=1e-6),
        keras.callbacks.ModelCheckpoint(str(out / f"{tag}_best.weights.h5"), monitor=monitor, mode="max",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.BackupAndRestore(str(out / "backup" / tag)),
        keras.callbacks.CSVLogger(str(out / f"{tag}_history.csv"), append=True),
    ]


def save_for_inference(model: keras.Model, path: Path) -> Path:
    """Save ``model``'s graph and weights without optimizer state (a third of the size for Adam);
    resuming training uses the run folder's backup, not this file."""
    lean = model.__class__.from_config(model.get_config())
    lean.set_weights(model.get_weights())
    lean.save(path)
    return Path(path)


def _finish(model: keras.Model, spec: ModelSpec, out: Path, summary: dict, started: float) -> Path:
    path = save_for_inference(model, out / f"{spec.task}.keras")
    save_spec(spec, path)
    summary["seconds"] = round(time.time() - started, 1)
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path


def train_classifier(
    data_root: Path,
    out_dir: Path,
    backbone_weights: str | Path | None = "imagenet",
    input_size: tuple[int, int] = (128, 128),
    head_epochs: int = 5,
    finetune_epochs: int = 30,
    aug_copies: int = 3,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    patience: int = 6,
    limit: int | None = None,
    seed: int = SEED,
    verbose: int = 2,
    attention_weight: float = 0.0,
    init_from: Path | None = None,
) -> TrainResult:
    """Train the VGG16 classifier in two phases (head only, then block 5 + head) and save it.

    Writes ``out_dir/classifier.keras`` (+ ``.spec.json``), per-phase checkpoints and CSV
    histories, ``training.json``; rerunning with the same ``out_dir`` resumes.

    Args:
        aug_copies: augmented copies of the training set cached besides the clean one.
        limit: use at most this many train and val images (smoke runs).
        attention_weight: weight of the Grad-CAM pointing loss (``training.attention``) on the training
            images that have an expert tumour mask (``datasets.classifier_tumor_masks``); 0: cross-entropy only.
        init_from: warm start from an earlier classifier (``.keras``, or ``.weights.h5`` of the whole model); a
            phase with 0 epochs is skipped.
    """
    started = time.time()
    keras.utils.set_random_seed(seed)
    out = Path(out_dir)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    train_items = _subset(classification_items(data_root, "train"), limit, seed)
    val_items = _subset(classification_items(data_root, "val"), limit, seed)
    y_train = np.array([i.label for i in train_items], dtype=np.int64)
    y_val = np.array([i.label for i in val_items], dtype=np.int64)
    masks = None
    if attention_weight > 0:
        train_items = classifier_tumor_masks(data_root, train_items)
        masks = load_masks(train_items, input_size)

    model = build_classifier(len(CLASS_NAMES), input_size, None if init_from else backbone_weights)
    if init_from is not None:
        _warm_start(model, Path(init_from))
    stem, tail = _split_vgg(model)
    train_images = load_images(train_items, input_size)
    rng = np.random.default_rng(seed)
    copies = [_cache_features(stem, train_images, out / "cache" / "features_0.npy", None, masks)]
    for k in range(1, aug_copies + 1):
        copies.append(_cache_features(stem, train_images, out / "cache" / f"features_{k}.npy", rng, masks))
    del train_images
    val_x, _ = _cache_features(stem, load_images(val_items, input_size), out / "cache" / "features_val.npy", None)
    val_data = (np.asarray(val_x, dtype=np.float32), y_val)
    cells = [c for _, c in copies] if masks is not None else None
    train_data = _CachedFeatures([f for f, _ in copies], y_train, batch_size, seed,
                                 source_balanced_weights(train_items), cells)
    trained = AttentionGuidedTail(tail, attention_weight) if masks is not None else tail

    epochs_run = 0
    for tag, epochs, trainable in (("phase1", head_epochs, ()), ("phase2", finetune_epochs, FINE_TUNE_LAYERS)):
        for layer in model.get_layer("vgg16").layers:
            layer.trainable = layer.name in trainable
        tail.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
        if trained is not tail:
            trained.compile(keras.optimizers.Adam(learning_rate))
        done = out / f"{tag}.weights.h5"
        if done.is_file():
            tail.load_weights(done)
            continue
        if epochs == 0:
            continue
        history = trained.fit(train_data, validation_data=val_data, epochs=epochs, verbose=verbose,
                              callbacks=_callbacks(out, tag, "val_accuracy", patience))
        epochs_run += len(history.epoch)
        tail.save_weights(done)
    best = float(tail.evaluate(*val_data, verbose=0)[1])
    spec = classifier_spec(input_size)
    summary = {"task": "classifier", "seed": seed, "n_train": len(train_items), "n_val": len(val_items),
               "epochs": epochs_run, "val_accuracy": best, "aug_copies": aug_copies, "batch_size": batch_size,
               "learning_rate": learning_rate, "attention_weight": attention_weight,
               "n_attention_masks": 0 if masks is None else int(sum(i.mask is not None for i in train_items)),
               "init_from": str(init_from) if init_from else None, "versions": spec.versions}
    path = _finish(model, spec, out, summary, started)
    return TrainResult(path, out, epochs_run, best, "val_accuracy", time.time() - started)


class _SegmentationBatches(keras.utils.PyDataset):
    """Shuffled, augmented batches of (image, mask) for the U-Net.

    Every batch holds ``round(batch_size * tumor_free_share)`` tumour-free slices (empty masks, drawn
    at random from ``tumor_free``) and tumour slices for the rest; an epoch covers every tumour slice ``repeats``
    times (default once).
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, batch_size: int, seed: int,
                 tumor_free: np.ndarray | None = None, tumor_free_share: float = 0.0,
                 repeats: np.ndarray | None = None):
        super().__init__()
        self.images, self.masks, self.tumor_free = images, masks, tumor_free
        self.n_free = round(batch_size * tumor_free_share) if tumor_free is not None and len(tumor_free) else 0
        self.batch_size = batch_size - self.n_free
        self.rng = np.random.default_rng(seed)
        self.epoch_rows = np.repeat(np.arange(len(images)), 1 if repeats is None else repeats)
        self.order = self.rng.permutation(self.epoch_rows)

    def __len__(self) -> int:
        return int(np.ceil(len(self.epoch_rows) / self.batch_size))

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(self.epoch_rows)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images, masks = self.images[rows], self.masks[rows]
        if self.n_free:
            free = self.tumor_free[self.rng.integers(0, len(self.tumor_free), size=self.n_free)]
            images = np.concatenate([images, free])
            masks = np.concatenate([masks, np.zeros((self.n_free, *masks.shape[1:]), dtype=masks.dtype)])
        images, masks = random_affine(images, masks, self.rng)
        x, y = augment(images, self.rng, masks)
        return x, y[..., None].astype(np.float32)


def train_segmenter(
    data_root: Path,
    out_dir: Path,
    input_size: tuple[int, int] = (128, 128),
    base_filters: int = 16,
    depth: int = 4,
    encoder: str = "plain",
    backbone_weights: str | Path | None = None,
    epochs: int = 40,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    patience: int = 8,
    limit: int | None = None,
    seed: int = SEED,
    verbose: int = 2,
    init_from: Path | None = None,
    extra_data: bool = True,
    tumor_free_share: float = TUMOR_FREE_SHARE,
    presence_weight: float = 1.0,
    mirror: bool = False,
    oversample: dict[str, int] | None = None,
) -> TrainResult:
    """Train the U-Net (``segmenter_loss``: BCE + Dice + tumour presence) and save ``out_dir/segmenter.keras``.

    Training data: Figshare's train blocks plus, with ``extra_data``, the leak-filtered BRISC
    train masks (``brisc-train``) and a ``tumor_free_share`` of every batch from tumour-free slices
    (``notumor-train``). Validation (model selection by mean ``hard_dice``): Figshare's val blocks,
    with ``extra_data`` also the tumour-free ``notumor-val`` slices (scored 1 when nothing is painted).
    Augmentation: random scale/rotation/shift, flips, gamma, brightness and contrast. Resumes from
    ``out_dir/backup`` when rerun with the same ``out_dir``; ``init_from`` (a .keras or
    .weights.h5 of the same architecture) warm-starts a new run from earlier weights; ``presence_weight``
    scales the loss's tumour-presence term (0 leaves tumour-free slices to the pixel cross-entropy alone);
    ``mirror`` adds the left-right mirrored image as a fourth encoder channel (``build_segmenter``), warm-startable
    from a segmenter without it; ``oversample`` (e.g. ``{"glioma": 2}``) shows each slice of a tumour type that many
    times per epoch (``datasets.tumor_types``).
    """
    started = time.time()
    keras.utils.set_random_seed(seed)
    model = build_segmenter(input_size, base_filters, depth, encoder, backbone_weights, mirror)  # bad sizes fail now
    if init_from is not None:
        _warm_start(model, Path(init_from))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_items = segmentation_items(data_root, "train")
    free_items: list[SplitItem] = []
    if extra_data:
        train_items += segmentation_items(data_root, "brisc-train")
        free_items = _subset(segmentation_items(data_root, "notumor-train"), limit, seed)
    train_items = _subset(train_items, limit, seed)
    val_items = segmentation_items(data_root, "val")
    if extra_data:
        val_items += segmentation_items(data_root, "notumor-val")
    val_items = _subset(val_items, limit, seed)
    oversample = dict(oversample or {})
    repeats = np.array([oversample.get(kind, 1) for kind in tumor_types(train_items)])
    train_data = _SegmentationBatches(load_images(train_items, input_size), load_masks(train_items, input_size),
                                      batch_size, seed, load_images(free_items, input_size), tumor_free_share,
                                      repeats)
    val_data = (scale_pixels(load_images(val_items, input_size)),
                load_masks(val_items, input_size)[..., None].astype(np.float32))
    model.compile(keras.optimizers.Adam(learning_rate), segmenter_loss(presence_weight),
                  metrics=[keras.metrics.MeanMetricWrapper(hard_dice, name="dice")])
    (out / "epochs").mkdir(exist_ok=True)
    every_epoch = keras.callbacks.ModelCheckpoint(str(out / "epochs" / "epoch_{epoch:02d}.weights.h5"),
                                                  save_weights_only=True)  # for weight averaging (scripts/)
    history = model.fit(train_data, validation_data=val_data, epochs=epochs, verbose=verbose,
                        callbacks=[*_callbacks(out, "segmenter", "val_dice", patience), every_epoch])
    best = float(max(history.history["val_dice"]))
    spec = segmenter_spec(input_size, min_region_pct(train_items))
    summary = {"task": "segmenter", "seed": seed, "n_train": len(train_items), "n_tumor_free": len(free_items),
               "tumor_free_share": tumor_free_share if free_items else 0.0,
               "presence_weight": presence_weight, "min_region_pct": spec.min_region_pct, "n_val": len(val_items),
               "epochs": len(history.epoch), "val_dice": best, "encoder": encoder, "mirror": mirror,
               "oversample": oversample, "depth": depth,
               "base_filters": base_filters, "batch_size": batch_size, "learning_rate": learning_rate,
               "init_from": str(init_from) if init_from else None, "versions": spec.versions}
    path = _finish(model, spec, out, summary, started)
    return TrainResult(path, out, len(history.epoch), best, "val_dice", time.time() - started)
