"""Parity: how closely two runs of a model agree on the same images (export vs Keras, backend vs backend).

The numbers are measured here and checked against ``limits.json`` with ``limits.limit_failures``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tumorscope.metrics import dice
from tumorscope.runtime.postprocess import probability_map

__all__ = ["compare_outputs", "mean_mask_dice"]


def mean_mask_dice(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> float:
    """Mean Dice between paired boolean masks (each pair the same shape; two empty masks score 1.0).

    Args:
        reference, candidate: ``N`` masks each, ``(H, W)`` bool, paired by position, N >= 1.
    """
    if len(reference) != len(candidate) or not len(reference):
        raise ValueError(f"need the same number (>= 1) of masks on both sides, got {len(reference)} and "
                         f"{len(candidate)}")
    return float(np.mean([dice(c, r) for r, c in zip(reference, candidate, strict=True)]))


def compare_outputs(task: str, reference: np.ndarray, candidate: np.ndarray, threshold: float = 0.5) -> dict:
    """Agreement of a candidate's raw model outputs with a reference's on the same images.

    Args:
        task: ``classifier`` or ``segmenter``.
        reference, candidate: model outputs for the same ``N`` images: ``(N, C)`` probabilities
            (classifier) or ``(N, H, W, 1)`` / ``(N, H, W)`` mask probabilities (segmenter), float32.
        threshold: segmenter mask threshold (the spec's ``mask_threshold``).

    Returns:
        classifier: ``{"images", "agreement", "max_prob_delta", "mean_prob_delta"}``;
        segmenter: ``{"images", "parity_dice", "worst_parity_dice", "max_prob_delta"}`` (Dice of the
        thresholded masks at the model resolution). Names follow ``limits.MEASURES``.
    """
    reference = np.asarray(reference, dtype=np.float32)
    candidate = np.asarray(candidate, dtype=np.float32)
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: reference {reference.shape}, candidate {candidate.shape}")
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
            "parity_dice": float(scores.mean()),
            "worst_parity_dice": float(scores.min()),
            "max_prob_delta": float(delta.max()),
        }
    raise ValueError(f"unknown task {task!r}; expected 'classifier' or 'segmenter'")
