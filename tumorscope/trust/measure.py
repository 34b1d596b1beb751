"""Measure the trust layer on real data: input-check flag rates, the consistency rule, the check's cost.

The pointing game is an evaluation (``assess.pointing``, ``tumorscope evaluate classifier --split figshare-test``).

Everything runs through the TensorFlow-free runtime on the deployable artifacts, so the numbers are
those of what ships. ``scripts/measure_trust.py`` is the command line.

- ``flag_rates``: share of inputs the input check flags, per set: the OOD set (``trust.oodset``), the
  official test split, the val split, and the independent tumour-free slices (``notumor-indep``).
- ``consistency``: over a split, how often each warning fires and that no ``notumor`` result
  reports a tumour area without ``segmenter_disagrees``.
- ``input_check_cost``: p50 latency of a batch-1 classify call and of the input check (image statistics + scoring).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.assess.items import pick_evenly
from tumorscope.datasets import CLASS_NAMES, classification_items
from tumorscope.runtime import Classifier, Pipeline, load_image
from tumorscope.runtime.inputcheck import STATUS_OOD, STATUS_UNAVAILABLE
from tumorscope.runtime.notices import SEGMENTER_DISAGREES
from tumorscope.trust.oodset import ood_images

__all__ = ["BRISC_FALLBACK", "independent_tumor_free", "flag_rates", "consistency", "input_check_cost"]

BRISC_FALLBACK = "brisc2025/no_tumor/train"
"""Tumour-free BRISC slices under the data root, used when the ``notumor-indep`` split is not defined."""


def independent_tumor_free(root: Path) -> tuple[str, list[Path]]:
    """The ``notumor-indep`` split's images, else every ``brisc2025/no_tumor/train/*.jpg``; with the set's name."""
    try:
        return "notumor-indep", [item.image for item in classification_items(root, "notumor-indep")]
    except (ValueError, KeyError):
        return "brisc-no_tumor", sorted((root / BRISC_FALLBACK).glob("*.jpg"))


def _checks(classifier: Classifier, images: list[np.ndarray], batch: int = 16) -> list:
    return [c.input_check for start in range(0, len(images), batch)
            for c in classifier.classify_batch(images[start : start + batch])]


def _rate_row(name: str, classifier: Classifier, images: list[np.ndarray], names: list[str] | None = None,
              categories: list[str] | None = None) -> dict[str, Any]:
    checks = _checks(classifier, images)
    unavailable = sum(c is None or c.status == STATUS_UNAVAILABLE for c in checks)
    flags = [c is not None and c.status == STATUS_OOD for c in checks]
    row: dict[str, Any] = {"set": name, "images": len(images), "flagged": int(sum(flags)),
                           "flagged_rate": round(sum(flags) / len(images), 4) if images and not unavailable else None,
                           "unavailable": unavailable}
    scores = [c.score for c in checks if c is not None and c.score is not None]
    if scores:
        row["score_p50"] = round(float(np.median(scores)), 2)
    if categories is not None and not unavailable:
        by_category: dict[str, list[bool]] = {}
        for category, flag in zip(categories, flags, strict=True):
            by_category.setdefault(category, []).append(flag)
        row["by_category"] = {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_category.items())}
        row["missed"] = [n for n, flag in zip(names or [], flags, strict=False) if not flag]
    return row


def flag_rates(classifier: Classifier, root: Path, limit: int | None = None,
               splits: tuple[str, ...] = ("test", "val")) -> list[dict[str, Any]]:
    """Input-check flag rates on the OOD set, the official test split, val, and the independent tumour-free slices.

    Args:
        classifier: a loaded deployable classifier (with an input check).
        root: data root.
        limit: at most this many images per real set (evenly spaced); None: all.
        splits: the classification splits to measure besides the OOD set and the tumour-free slices.
    """
    ood = ood_images()
    rows = [_rate_row("ood", classifier, [i.image for i in ood], [i.name for i in ood], [i.category for i in ood])]
    for split in splits:
        items = pick_evenly(classification_items(root, split), limit)
        rows.append(_rate_row(split, classifier, [load_image(i.image) for i in items]))
    name, paths = independent_tumor_free(root)
    rows.append(_rate_row(name, classifier, [load_image(p) for p in pick_evenly(paths, limit)]))
    return rows


def consistency(pipeline: Pipeline, root: Path, split: str = "test", limit: int | None = None,
                paths: list[Path] | None = None) -> dict[str, Any]:
    """Warnings over a classification split (or ``paths``) and the rule check.

    Returns:
        counts of each warning, of ``notumor`` results, of ``notumor`` results with a tumour area, and of
        those without ``segmenter_disagrees`` (``violations``; the rule makes it 0).
    """
    chosen = paths if paths is not None else [i.image for i in pick_evenly(classification_items(root, split), limit)]
    warnings: Counter[str] = Counter()
    notumor = with_area = violations = 0
    for path in chosen:
        row = pipeline.analyze_path(path).to_dict()
        if row["error"]:
            continue
        warnings.update(row["warnings"])
        if row["label"] == CLASS_NAMES[CLASS_NAMES.index("notumor")]:
            notumor += 1
            if row["tumor_area_pct"]:
                with_area += 1
                violations += SEGMENTER_DISAGREES not in row["warnings"]
    return {"set": split if paths is None else "paths", "images": len(chosen), "notumor_results": notumor,
            "notumor_with_area": with_area, "violations": violations, "warnings": dict(sorted(warnings.items()))}


def input_check_cost(classifier: Classifier, image: np.ndarray, runs: int = 30, warmup: int = 3) -> dict[str, float]:
    """p50 ms of ``classify`` (batch 1, all outputs) and of the input check alone (its image statistics and
    the scoring of features and statistics), and their ratio."""
    for _ in range(warmup):
        result = classifier.classify(image)
    batch = classifier.prepare([image])
    outputs = classifier._infer_outputs([image], batch)
    features = outputs.get(classifier.spec.check_output)
    check = classifier.input_check
    classify_ms, check_ms = [], []
    for _ in range(runs):
        start = time.perf_counter()
        result = classifier.classify(image)
        classify_ms.append((time.perf_counter() - start) * 1000)
        if check is not None and features is not None:
            start = time.perf_counter()
            check.check_inputs(features, batch)
            check_ms.append((time.perf_counter() - start) * 1000)
    out = {"classify_p50_ms": round(float(np.median(classify_ms)), 3)}
    if check_ms:
        out["input_check_p50_ms"] = round(float(np.median(check_ms)), 4)
        out["input_check_share"] = round(out["input_check_p50_ms"] / out["classify_p50_ms"], 4)
    del result
    return out
