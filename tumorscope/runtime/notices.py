"""The warning codes a result can carry and one plain sentence for each (standard library only)."""

from __future__ import annotations

__all__ = ["NOT_A_BRAIN_MRI", "SEGMENTER_DISAGREES", "NO_TUMOR_REGION_FOUND", "WARNING_TEXT", "warning_text"]

NOT_A_BRAIN_MRI = "not_a_brain_mri"
"""The input check says the image does not look like the brain MRI slices the models were trained on."""
SEGMENTER_DISAGREES = "segmenter_disagrees"
"""The classifier says ``notumor`` but the segmenter is confident of a region (kept and drawn)."""
NO_TUMOR_REGION_FOUND = "no_tumor_region_found"
"""The classifier names a tumour class but the segmenter found no region."""
WARNING_TEXT = {
    NOT_A_BRAIN_MRI: "this image does not look like a brain MRI slice, so its results are meaningless",
    SEGMENTER_DISAGREES: "the classifier found no tumor but the segmenter is confident of a region",
    NO_TUMOR_REGION_FOUND: "the classifier found a tumor but the segmenter found no region",
}


def warning_text(code: str) -> str:
    """The sentence for a warning code (the code itself when unknown)."""
    return WARNING_TEXT.get(code, code)
