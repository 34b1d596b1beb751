"""One answer per input: reconcile the classifier and the segmenter, and list what the user must know.

The rule (the same for the CLI, the Python API and the web app):

1. The classifier says ``notumor``: the tumour area is 0 and no region is drawn, unless the segmenter
   is confident, i.e. the share of the slice where its probability is at least ``CONFIDENT_LEVEL``
   exceeds ``confident_area_pct`` (from the segmenter's spec, measured at export on tumour-free val
   slices: at most 1 % of them exceed it; the peak probability alone saturates in int8).
   Then the region is kept and ``warnings`` holds ``segmenter_disagrees``. A segmenter exported
   without that value is never treated as confident.
2. The classifier names a tumour class but the segmenter finds no region: ``warnings`` holds
   ``no_tumor_region_found``.
3. The input check says the image is not like the training images: ``warnings`` holds
   ``not_a_brain_mri`` (the results are meaningless).

numpy only.
"""

from __future__ import annotations

import numpy as np

from tumorscope.runtime.inputcheck import InputCheck
from tumorscope.runtime.notices import NO_TUMOR_REGION_FOUND, NOT_A_BRAIN_MRI, SEGMENTER_DISAGREES
from tumorscope.runtime.results import Classification, Segmentation

__all__ = ["OutOfDistributionError", "NO_TUMOR_LABEL", "CONFIDENT_LEVEL", "confident_area_pct", "reconcile"]

NO_TUMOR_LABEL = "notumor"
"""The classifier label that means no tumour."""
CONFIDENT_LEVEL = 0.9
"""Segmenter probability at which a pixel counts towards the confident area."""


def confident_area_pct(probability: np.ndarray) -> float:
    """Share (%) of a ``(h, w)`` segmenter probability map at or above ``CONFIDENT_LEVEL``."""
    return float(np.mean(np.asarray(probability) >= CONFIDENT_LEVEL) * 100.0)


class OutOfDistributionError(ValueError):
    """An input the input check rejects, raised only when asked to (``Pipeline(reject_ood=True)``)."""

    def __init__(self, check: InputCheck):
        self.check = check
        super().__init__(
            f"does not look like a brain MRI slice (input check score {check.score:.1f} > threshold "
            f"{check.threshold:.1f}), so its results would be meaningless; refused because of --reject-ood"
        )


def _empty(segmentation: Segmentation) -> Segmentation:
    return Segmentation(
        mask=np.zeros_like(segmentation.mask, dtype=bool),
        max_probability=segmentation.max_probability,
        tumor_area_pct=0.0,
        brain_area_pct=None if segmentation.brain_area_pct is None else 0.0,
        bbox=None,
        confident_area_pct=segmentation.confident_area_pct,
    )


def reconcile(
    classification: Classification, segmentation: Segmentation, confident_area: float | None
) -> tuple[Segmentation, tuple[str, ...]]:
    """Apply the rule in the module docstring.

    Args:
        classification: the classifier's result (its ``input_check`` adds ``not_a_brain_mri``).
        segmentation: the segmenter's raw result.
        confident_area: the segmenter spec's ``confident_area_pct``, or None (never confident).

    Returns:
        The segmentation to report (emptied for an unconfirmed ``notumor``) and the warning codes, in order.
    """
    warnings: list[str] = []
    check = classification.input_check
    if check is not None and check.out_of_distribution:
        warnings.append(NOT_A_BRAIN_MRI)
    has_region = segmentation.bbox is not None
    if classification.label == NO_TUMOR_LABEL and has_region:
        confident = confident_area is not None and segmentation.confident_area_pct > confident_area
        if confident:
            warnings.append(SEGMENTER_DISAGREES)
        else:
            segmentation = _empty(segmentation)
    elif classification.label != NO_TUMOR_LABEL and not has_region:
        warnings.append(NO_TUMOR_REGION_FOUND)
    return segmentation, tuple(warnings)
