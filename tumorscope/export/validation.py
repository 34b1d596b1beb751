"""Does an exported artifact still behave like its Keras original? The export's parity check.

The limits are the ``parity_with_keras`` section of the one limits file (``tumorscope/assess/limits.json``),
the keys that need no labels (``WITHOUT_GROUND_TRUTH``); the numbers come from ``assess.parity``.
"""

from __future__ import annotations

from collections.abc import Mapping

from tumorscope.assess.limits import PARITY_KEYS, WITHOUT_GROUND_TRUTH, limit_failures, load_limits
from tumorscope.assess.parity import compare_outputs
from tumorscope.export.formats import ExportFormat, get_format

__all__ = ["ExportValidationError", "compare_outputs", "default_limits", "parity_limits", "limit_failures"]


class ExportValidationError(RuntimeError):
    """An exported artifact disagrees with its Keras original beyond the limits.

    Attributes:
        checks: the ``compare_outputs`` numbers behind the failure (empty when not measured).
    """

    def __init__(self, message: str, checks: dict | None = None):
        super().__init__(message)
        self.checks = dict(checks or {})


def default_limits(task: str, fmt: str | ExportFormat) -> dict[str, float]:
    """The committed label-free ``parity_with_keras`` limits of a format (``{key: limit}``)."""
    return load_limits().parity_for(task, get_format(fmt).name, without_ground_truth=True)


def parity_limits(task: str, fmt: str | ExportFormat, overrides: Mapping[str, Mapping[str, float]] | None = None,
                  **changes: float | None) -> dict[str, float]:
    """The limits one export is held to: the committed ones, then ``overrides[format]``, then non-None ``changes``.

    Override keys of the other task (``min_agreement`` for a segmenter, ``min_parity_dice`` for a classifier)
    are ignored, so one set of CLI flags serves both models.

    Raises:
        ValueError: an override key that export cannot measure (only ``WITHOUT_GROUND_TRUTH`` keys).
    """
    name = get_format(fmt).name
    given = dict((overrides or {}).get(name, {})) | {k: float(v) for k, v in changes.items() if v is not None}
    unknown = sorted(set(given) - set(WITHOUT_GROUND_TRUTH))
    if unknown:
        raise ValueError(f"export cannot check {unknown} (they need labels); use {', '.join(WITHOUT_GROUND_TRUTH)}")
    return default_limits(task, name) | {k: v for k, v in given.items() if k in PARITY_KEYS[task]}
