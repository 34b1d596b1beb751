"""Dataset discovery and the committed, deterministic splits (numpy/OpenCV only; a leaf module).

Data root layout (``--data DIR`` or env ``TUMORSCOPE_DATA``)::

    brain-tumor-mri/{Training,Testing}/{glioma,meningioma,notumor,pituitary}/*.jpg
    brain-tumor-seg/images/N.png, brain-tumor-seg/masks/N.png
    brisc2025/segmentation.csv, brisc2025/no_tumor.csv (+ the images and masks they list)

Splits are committed in ``tumorscope/splits/*.json`` as relative paths / ids, never images.
Classifier paths are relative to ``brain-tumor-mri/`` except BRISC ones (``brisc2025/...``,
relative to the data root); segmenter splits hold Figshare slice ids (``train``/``val``/``test``)
or data-root-relative paths (the BRISC and tumour-free splits).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "CLASS_NAMES",
    "DATA_ENV",
    "CLASSIFICATION_SPLITS",
    "POINTING_SPLITS",
    "FIGSHARE_TUMOR_TYPES",
    "figshare_labels",
    "tumor_types",
    "unseen_by_classifier",
    "SEGMENTATION_SPLITS",
    "SplitItem",
    "resolve_data_root",
    "classification_dir",
    "segmentation_dir",
    "load_split",
    "classification_items",
    "segmentation_items",
    "classifier_tumor_masks",
    "make_classification_splits",
    "make_segmentation_splits",
    "thumbnail_vector",
    "plane_of",
    "label_of",
]

CLASS_NAMES = ("glioma", "meningioma", "notumor", "pituitary")
DATA_ENV = "TUMORSCOPE_DATA"
CLASSIFICATION_SPLITS = ("train", "val", "test", "test-dedup", "notumor-indep")
POINTING_SPLITS = ("figshare-val", "figshare-test", "figshare-val-unseen", "figshare-test-unseen")
"""Classifier splits of the Figshare slices of the segmenter's val / test patient blocks, labelled with their
tumour type and carrying their expert mask: where the pointing game is scored (``assess.pointing``). Nickparvar
re-publishes Figshare, so about half of these slices are copies of images the classifier trained on (with their
class, never their mask); ``-unseen`` keeps only the slices without such a copy (``unseen_by_classifier``)."""
FIGSHARE_TUMOR_TYPES = {1: "meningioma", 2: "glioma", 3: "pituitary"}
"""``brain-tumor-seg/labels.csv`` label -> class name."""
FIGSHARE_SPLITS = ("train", "val", "test")
"""Segmenter splits of Figshare slice ids (contiguous patient blocks)."""
SEGMENTATION_SPLITS = (*FIGSHARE_SPLITS, "brisc-train", "brisc-test", "notumor-train", "notumor-val",
                       "notumor-official", "notumor-indep")
TUMOR_FREE_SPLITS = ("notumor-train", "notumor-val", "notumor-official", "notumor-indep")
"""Segmenter splits of tumour-free slices: every item's ground truth is an empty mask (``mask=None``)."""
BRISC = "brisc2025"
INDEP_FRACTION = 0.30
"""Share of the independent BRISC tumour-free slices (per plane) held out as ``notumor-indep``."""
FIGSHARE_SAME_PATIENT_CORRELATION = 0.8
"""From this thumbnail correlation up, a BRISC slice may be the same patient as its nearest Figshare slice."""
PLANES = ("ax", "co", "sa")
SPLIT_DIR = Path(__file__).parent / "splits"
SEED = 1337
VAL_FRACTION = 0.10
SEG_BLOCK = 50
SEG_FRACTIONS = (0.70, 0.15, 0.15)
THUMB_SIZE = 32
DEDUP_MIN_CORRELATION = 0.98
"""A test image whose 32x32 thumbnail correlates at least this much with a training one is a near-duplicate.

On the official split the maximum correlations are bimodal: 477 test images at >= 0.995 (copies,
re-encodings, small shifts), a gap, then a broad mode of different slices near 0.90-0.96."""


@dataclass(frozen=True)
class SplitItem:
    """One labelled example: an image path and its class index (classifier) or mask path (segmenter)."""

    image: Path
    label: int = -1
    mask: Path | None = None


def resolve_data_root(data: str | Path | None = None) -> Path:
    """Return the data root from ``data`` or ``$TUMORSCOPE_DATA``.

    Raises:
        FileNotFoundError: neither is given, or the folder does not exist.
    """
    value = data if data is not None else os.environ.get(DATA_ENV)
    if not value:
        raise FileNotFoundError(
            f"no data root: pass --data DIR or set {DATA_ENV} to the folder holding "
            "brain-tumor-mri/ and brain-tumor-seg/"
        )
    root = Path(value).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} does not exist; fix --data or {DATA_ENV}")
    return root


def classification_dir(root: Path) -> Path:
    """``root/brain-tumor-mri``, checked to exist."""
    path = root / "brain-tumor-mri"
    if not (path / "Training").is_dir() or not (path / "Testing").is_dir():
        raise FileNotFoundError(f"{path}: expected Training/ and Testing/ class folders (Kaggle layout)")
    return path


def segmentation_dir(root: Path) -> Path:
    """``root/brain-tumor-seg``, checked to exist."""
    path = root / "brain-tumor-seg"
    if not (path / "images").is_dir() or not (path / "masks").is_dir():
        raise FileNotFoundError(f"{path}: expected images/ and masks/ folders")
    return path


def _list_folder(base: Path, part: str) -> list[str]:
    """Relative paths ``Part/class/file.jpg`` of one official folder, sorted."""
    rel = []
    for name in CLASS_NAMES:
        folder = base / part / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: class folder missing")
        images = (p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        rel += sorted(f"{part}/{name}/{p.name}" for p in images)
    return rel


def label_of(rel: str) -> int:
    """Class index of a committed classifier path (BRISC tumour-free slices are ``notumor``)."""
    if rel.startswith(f"{BRISC}/"):
        return CLASS_NAMES.index("notumor")
    return CLASS_NAMES.index(rel.split("/")[1])


def plane_of(path: str | Path) -> str | None:
    """Imaging plane ``"ax"``, ``"co"`` or ``"sa"`` from a BRISC file name (``..._co_t1.jpg``), else None."""
    parts = Path(path).stem.split("_")
    return next((p for p in parts[2:] if p in PLANES), None) if parts[0] == BRISC else None


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: BRISC 2025 index missing; see ../shared/README.md for the layout")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _brisc_tumor_free(root: Path) -> tuple[list[str], list[str], list[str]]:
    """Independent BRISC tumour-free slices (not copies of Nickparvar images), split per plane, seeded.

    Returns:
        ``(train, val, indep)`` data-root-relative paths: ``INDEP_FRACTION`` of each plane is the
        never-trained ``notumor-indep`` split; the rest joins ``notumor`` of train/val (``VAL_FRACTION``).
    """
    rows = [r for r in _read_csv(root / BRISC / "no_tumor.csv") if not r["nickparvar"]]
    rng = np.random.default_rng(SEED)
    train, val, indep = [], [], []
    for plane in PLANES:
        members = sorted(f"{BRISC}/{r['file']}" for r in rows if r["plane"] == plane)
        order = rng.permutation(len(members))
        n_indep = round(len(members) * INDEP_FRACTION)
        n_val = round((len(members) - n_indep) * VAL_FRACTION)
        indep += [members[i] for i in order[:n_indep]]
        val += [members[i] for i in order[n_indep : n_indep + n_val]]
        train += [members[i] for i in order[n_indep + n_val :]]
    return sorted(train), sorted(val), sorted(indep)


def thumbnail_vector(path: Path, size: int = THUMB_SIZE) -> np.ndarray:
    """Zero-mean, unit-norm grayscale thumbnail of an image, for near-duplicate search.

    Returns:
        ``(size * size,)`` float32; the dot product of two vectors is their Pearson correlation.
    """
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ValueError(f"{path}: not a readable image")
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    small -= small.mean()
    return small / (np.linalg.norm(small) + 1e-6)


def _near_duplicates(test_vectors: np.ndarray, train_vectors: np.ndarray, min_correlation: float) -> np.ndarray:
    """Bool ``(n_test,)``: True where some training thumbnail correlates >= ``min_correlation``."""
    return (test_vectors @ train_vectors.T).max(axis=1) >= min_correlation


def make_classification_splits(root: Path) -> dict:
    """Build the classification splits from the data (deterministic for a given data set).

    ``val`` is a stratified ``VAL_FRACTION`` of Training (seeded); ``test`` is the official
    Testing folder; ``test-dedup`` drops every test image whose thumbnail correlates at least
    ``DEDUP_MIN_CORRELATION`` with a Training image's (see ``thumbnail_vector``). The independent
    BRISC tumour-free T1 slices are split per plane: ``notumor-indep`` (never trained on) and the
    rest added to ``notumor`` of train/val (see ``_brisc_tumor_free``).
    """
    base = classification_dir(root)
    training, testing = _list_folder(base, "Training"), _list_folder(base, "Testing")
    rng = np.random.default_rng(SEED)
    train, val = [], []
    for index in range(len(CLASS_NAMES)):
        members = [p for p in training if label_of(p) == index]
        order = rng.permutation(len(members))
        n_val = round(len(members) * VAL_FRACTION)
        val += [members[i] for i in sorted(order[:n_val])]
        train += [members[i] for i in sorted(order[n_val:])]
    train_vectors = np.stack([thumbnail_vector(base / p) for p in training])
    test_vectors = np.stack([thumbnail_vector(base / p) for p in testing])
    duplicate = _near_duplicates(test_vectors, train_vectors, DEDUP_MIN_CORRELATION)
    dedup = [p for p, dup in zip(testing, duplicate, strict=True) if not dup]
    brisc_train, brisc_val, indep = _brisc_tumor_free(root)
    return {
        "task": "classifier",
        "classes": list(CLASS_NAMES),
        "seed": SEED,
        "dedup": {
            "method": f"Pearson correlation of {THUMB_SIZE}x{THUMB_SIZE} grayscale thumbnails "
            "against every Training image (official Training folder, train and val)",
            "min_correlation": DEDUP_MIN_CORRELATION,
            "removed": int(duplicate.sum()),
        },
        "independent": {
            "source": "BRISC 2025 tumour-free T1 slices not copied from Nickparvar (brisc2025/no_tumor.csv)",
            "indep_fraction_per_plane": INDEP_FRACTION,
        },
        "splits": {"train": sorted(train) + brisc_train, "val": sorted(val) + brisc_val, "test": testing,
                   "test-dedup": dedup, "notumor-indep": indep},
    }


def make_segmentation_splits(root: Path) -> dict:
    """Assign contiguous blocks of ``SEG_BLOCK`` slice ids to train/val/test (~70/15/15, seeded).

    Consecutive ids are slices of one patient, so blocks keep most patients on one side.

    BRISC 2025 masks: ``brisc-train`` = BRISC train minus copies of Nickparvar *Testing* images and
    minus slices whose nearest Figshare slice lies in the val/test blocks (possible same patient);
    ``brisc-test`` = BRISC test minus slices that may be a Figshare-train patient (nearest Figshare
    slice in the train blocks at correlation >= ``FIGSHARE_SAME_PATIENT_CORRELATION``).
    Tumour-free slices: ``notumor-train`` / ``notumor-val`` (the classifier's train / val ``notumor``
    images, Nickparvar and BRISC), ``notumor-official`` (official Testing/notumor), ``notumor-indep``
    (the classifier's).
    """
    base = segmentation_dir(root)
    ids = sorted(int(p.stem) for p in (base / "images").glob("*.png"))
    blocks = [ids[i : i + SEG_BLOCK] for i in range(0, len(ids), SEG_BLOCK)]
    order = np.random.default_rng(SEED).permutation(len(blocks))
    n_train = round(len(blocks) * SEG_FRACTIONS[0])
    n_val = round(len(blocks) * SEG_FRACTIONS[1])
    parts = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    splits = {name: sorted(i for b in chosen for i in blocks[b]) for name, chosen in parts.items()}
    held_out = set(splits["val"]) | set(splits["test"])
    rows = _read_csv(root / BRISC / "segmentation.csv")
    splits["brisc-train"] = sorted(
        f"{BRISC}/{r['file']}" for r in rows
        if r["split"] == "train" and not r["nickparvar"].startswith("Testing/")
        and int(r["figshare_id"]) not in held_out
    )
    train_ids = set(splits["train"])
    splits["brisc-test"] = sorted(
        f"{BRISC}/{r['file']}" for r in rows
        if r["split"] == "test"
        and not (int(r["figshare_id"]) in train_ids and float(r["figshare_corr"]) >= FIGSHARE_SAME_PATIENT_CORRELATION)
    )
    classifier = make_classification_splits(root)["splits"]
    notumor = CLASS_NAMES.index("notumor")
    splits["notumor-train"] = [_root_relative(p) for p in classifier["train"] if label_of(p) == notumor]
    splits["notumor-val"] = [_root_relative(p) for p in classifier["val"] if label_of(p) == notumor]
    splits["notumor-official"] = [_root_relative(p) for p in classifier["test"] if label_of(p) == notumor]
    splits["notumor-indep"] = list(classifier["notumor-indep"])
    return {"task": "segmenter", "seed": SEED, "block": SEG_BLOCK, "splits": splits}


def _root_relative(rel: str) -> str:
    """A committed classifier path, made relative to the data root."""
    return rel if rel.startswith(f"{BRISC}/") else f"brain-tumor-mri/{rel}"


def _classification_path(root: Path, rel: str) -> Path:
    return root / _root_relative(rel)


def load_split(task: str, split: str) -> list:
    """Committed split members: relative image paths (classifier) or slice ids (segmenter)."""
    names = CLASSIFICATION_SPLITS if task == "classifier" else SEGMENTATION_SPLITS
    if split not in names:
        raise ValueError(f"unknown {task} split {split!r}; choose one of {', '.join(names)}")
    data = json.loads((SPLIT_DIR / f"{task}.json").read_text(encoding="utf-8"))
    return data["splits"][split]


def _brisc_mask(rel: str) -> str:
    """``brisc2025/segmentation/<part>/images/X.jpg`` -> ``brisc2025/segmentation/<part>/masks/X.png``."""
    path = Path(rel)
    return str(path.parent.parent / "masks" / f"{path.stem}.png")


def _figshare_label_table(path: Path) -> dict[int, int]:
    return {int(r["id"]): CLASS_NAMES.index(FIGSHARE_TUMOR_TYPES[int(r["label"])]) for r in _read_csv(path)}


def figshare_labels(root: Path) -> dict[int, int]:
    """Figshare slice id -> class index (into ``CLASS_NAMES``) from ``brain-tumor-seg/labels.csv``."""
    return _figshare_label_table(segmentation_dir(root) / "labels.csv")


BRISC_TUMOR_CODES = {"gl": "glioma", "me": "meningioma", "pi": "pituitary"}
"""Tumour-type code in BRISC segmentation file names (``brisc2025_test_00001_gl_ax_t1.jpg``) -> class name."""


def tumor_types(items: Sequence[SplitItem]) -> list[str | None]:
    """Each segmentation item's tumour type (a ``CLASS_NAMES`` name): BRISC from the file name, Figshare from its
    folder's ``labels.csv``; None for tumour-free items and unknown files."""
    figshare: dict[Path, dict[int, int]] = {}
    types: list[str | None] = []
    for item in items:
        parts = item.image.stem.split("_")
        if item.mask is None:
            types.append(None)
        elif parts[0] == BRISC:
            types.append(next((BRISC_TUMOR_CODES[p] for p in parts[2:] if p in BRISC_TUMOR_CODES), None))
        elif (item.image.parent.parent / "labels.csv").is_file() and item.image.stem.isdigit():
            base = item.image.parent.parent
            if base not in figshare:
                figshare[base] = _figshare_label_table(base / "labels.csv")
            label = figshare[base].get(int(item.image.stem))
            types.append(None if label is None else CLASS_NAMES[label])
        else:
            types.append(None)
    return types


def unseen_by_classifier(root: Path, items: list[SplitItem]) -> list[SplitItem]:
    """``items`` without a copy among the classifier's train and val tumour images: no thumbnail of those
    correlates ``DEDUP_MIN_CORRELATION`` or more with the item's (the rule of ``test-dedup``)."""
    trained = [i.image for split in ("train", "val") for i in classification_items(root, split)
               if i.label != CLASS_NAMES.index("notumor")]
    if not items or not trained:
        return list(items)
    copied = _near_duplicates(np.stack([thumbnail_vector(i.image) for i in items]),
                              np.stack([thumbnail_vector(p) for p in trained]), DEDUP_MIN_CORRELATION)
    return [item for item, seen in zip(items, copied, strict=True) if not seen]


def classification_items(root: Path, split: str) -> list[SplitItem]:
    """Items of a committed classification split under data root ``root``; fails if files are missing.

    ``POINTING_SPLITS`` items are Figshare slices with their class and their expert mask.
    """
    if split in POINTING_SPLITS:
        labels = figshare_labels(root)
        items = [SplitItem(i.image, labels[int(i.image.stem)], i.mask)
                 for i in segmentation_items(root, split.removeprefix("figshare-").removesuffix("-unseen"))]
        return unseen_by_classifier(root, items) if split.endswith("-unseen") else items
    classification_dir(root)
    items = [SplitItem(_classification_path(root, rel), label_of(rel)) for rel in load_split("classifier", split)]
    missing = [str(i.image) for i in items if not i.image.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} files of split {split!r} are missing, e.g. {missing[0]}")
    return items


def segmentation_items(root: Path, split: str) -> list[SplitItem]:
    """Items of a committed segmentation split; fails if files are missing.

    Figshare and BRISC items carry their mask path; tumour-free items (``TUMOR_FREE_SPLITS``) have
    ``mask=None``: their ground truth is an empty mask.
    """
    members = load_split("segmenter", split)
    if split in FIGSHARE_SPLITS:
        base = segmentation_dir(root)
        items = [SplitItem(base / "images" / f"{i}.png", mask=base / "masks" / f"{i}.png") for i in members]
    elif split in TUMOR_FREE_SPLITS:
        items = [SplitItem(root / rel) for rel in members]
    else:
        items = [SplitItem(root / rel, mask=root / _brisc_mask(rel)) for rel in members]
    missing = [str(p) for i in items for p in (i.image, i.mask) if p is not None and not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} files of split {split!r} are missing, e.g. {missing[0]}")
    return items


def _figshare_copies(root: Path, items: list[SplitItem], ids: list[int]) -> dict[Path, Path]:
    """Image path -> Figshare mask path for each of ``items`` that copies one of the Figshare slices ``ids``.

    Nickparvar re-publishes the Figshare slices at the same framing (resized, re-encoded): a copy's 32x32
    thumbnail correlates with its slice's at ``DEDUP_MIN_CORRELATION`` or more.
    """
    base = segmentation_dir(root)
    candidates = [i for i in items if i.label != CLASS_NAMES.index("notumor")]
    if not candidates or not ids:
        return {}
    correlation = (np.stack([thumbnail_vector(i.image) for i in candidates])
                   @ np.stack([thumbnail_vector(base / "images" / f"{n}.png") for n in ids]).T)
    nearest, best = correlation.argmax(axis=1), correlation.max(axis=1)
    return {item.image: base / "masks" / f"{ids[k]}.png"
            for item, k, c in zip(candidates, nearest, best, strict=True) if c >= DEDUP_MIN_CORRELATION}


def classifier_tumor_masks(root: Path, items: list[SplitItem]) -> list[SplitItem]:
    """``items`` (classifier images) with the expert tumour mask of each that has one, else ``mask=None``.

    Two sources, both at the classifier image's framing (a copy's mask fits it once both are resized to the
    model input), and neither holding a Figshare val/test patient (where the pointing game is scored):
    BRISC masks of the segmenter's leak-filtered ``brisc-train`` split (a BRISC tumour image re-publishes a
    Nickparvar image, ``segmentation.csv`` column ``nickparvar``), and Figshare masks of the segmenter's
    ``train`` blocks for the images that copy such a slice (``_figshare_copies``).
    """
    allowed = set(load_split("segmenter", "brisc-train"))
    by_copy = {root / "brain-tumor-mri" / r["nickparvar"]: root / BRISC / r["mask"]
               for r in _read_csv(root / BRISC / "segmentation.csv")
               if r["nickparvar"] and f"{BRISC}/{r['file']}" in allowed}
    unmatched = [i for i in items if i.image not in by_copy]
    by_copy |= _figshare_copies(root, unmatched, load_split("segmenter", "train"))
    return [SplitItem(i.image, i.label, by_copy.get(i.image)) for i in items]
