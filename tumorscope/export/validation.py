"""Does an exported artifact still behave like its Keras original? Checks and per-format tolerances."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tumorscope.export.formats import ExportFormat, get_format
from tumorscope.metrics import dice
from tumorscope.runtime.postprocess import probability_map

__all__ = [
    "ExportValidationError",
    "Tolerances",
    "DEFAULT_TOLERANCES",
    "default_tolerances",
    "compare_outputs",
    "tolerance_failures",
]


class ExportValidationError(RuntimeError):
    """An exported artifact disagrees with its Keras original beyond the tolerances.

    Attributes:
        checks: the ``compare_outputs`` numbers behind the failure (empty when not measured).
    """

    def __init__(self, message: str, checks: dict | None = None):
        super().__init__(message)
        self.checks = dict(checks or {})


@dataclass(frozen=True)
class Tolerances:
    """Limits an export must meet against its Keras original on held-out images.

    Attributes:
        min_agreement: classifier: least fraction of images with the same top-1 class.
        max_prob_delta: classifier: largest allowed ``|p_export - p_keras|`` over all images and classes.
        min_dice: segmenter: least mean Dice between the two thresholded masks.
    """

    min_agreement: float
    max_prob_delta: float
    min_dice: float

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"tolerance {field.name} must be a finite number >= 0, got {value!r}")

    def override(self, **changes: float | None) -> Tolerances:
        """A copy with the given non-None fields replaced (CLI flags left unset keep the defaults)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


DEFAULT_TOLERANCES: dict[str, Tolerances] = {
    "none": Tolerances(min_agreement=0.99, max_prob_delta=0.01, min_dice=0.98),
    "fp16": Tolerances(min_agreement=0.99, max_prob_delta=0.05, min_dice=0.98),
    "dynamic": Tolerances(min_agreement=0.97, max_prob_delta=0.25, min_dice=0.95),
    "int8": Tolerances(min_agreement=0.97, max_prob_delta=0.25, min_dice=0.95),
}
"""Per-quantization defaults (fp32 exports must match almost exactly; int8 may drift a little)."""


def default_tolerances(fmt: str | ExportFormat) -> Tolerances:
    """The default tolerances of a format, by its quantization."""
    return DEFAULT_TOLERANCES[get_format(fmt).quantization]


def compare_outputs(task: str, reference: np.ndarray, candidate: np.ndarray, threshold: float = 0.5) -> dict:
    """Agreement of an export's outputs with the original's on the same images.

    Args:
        task: ``classifier`` or ``segmenter``.
        reference, candidate: model outputs for the same ``N`` images: ``(N, C)`` probabilities
            (classifier) or ``(N, H, W, 1)`` mask probabilities (segmenter), float32.
        threshold: segmenter mask threshold (the spec's ``mask_threshold``).

    Returns:
        classifier: ``{"images", "agreement", "max_prob_delta", "mean_prob_delta"}``;
        segmenter: ``{"images", "dice", "min_dice", "max_prob_delta"}``.
    """
    reference = np.asarray(reference, dtype=np.float32)
    candidate = np.asarray(candidate, dtype=np.float32)
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: original {reference.shape}, export {candidate.shape}")
    delta = np.abs(candidate - reference)
    if task == "classifier":
        return {
            "images": int(len(reference)),
            "agreement": float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1))),
            "max_prob_delta": float(delta.max()),
            "mean_prob_delta": float(delta.mean()),
        }
    if task == "segmenter":
        scores = np.atleast_1d(dice(probability_map(candidate) > threshold, probability_map(reference) > threshold))
        return {
            "images": int(len(reference)),
            "dice": float(scores.mean()),
            "min_dice": float(scores.min()),
            "max_prob_delta": float(delta.max()),
        }
    raise ValueError(f"unknown task {task!r}; expected 'classifier' or 'segmenter'")


def tolerance_failures(task: str, checks: dict, tolerances: Tolerances) -> list[str]:
    """Human-readable reasons ``checks`` (from ``compare_outputs``) break ``tolerances``; empty when fine."""
    failures = []
    if task == "classifier":
        if checks["agreement"] < tolerances.min_agreement:
            failures.append(f"top-1 agreement {checks['agreement']:.4f} < {tolerances.min_agreement}")
        if checks["max_prob_delta"] > tolerances.max_prob_delta:
            failures.append(f"max |dprob| {checks['max_prob_delta']:.4f} > {tolerances.max_prob_delta}")
    elif checks["dice"] < tolerances.min_dice:
        failures.append(f"mean Dice {checks['dice']:.4f} < {tolerances.min_dice}")
    return failures
