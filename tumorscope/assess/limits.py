"""The one set of pass/fail limits: read and validate ``limits.json``, check measured values against it.

Every number that decides pass/fail lives in ``limits.json`` next to this module, in sections named for
what they compare:

- ``agreement_with_ground_truth``: ``{task: {"min_accuracy" | "min_dice": x}}``, a format against the data.
- ``parity_with_keras``: ``{task: {format: {key: x}}}``, an export against its Keras original on the same
  images (export validation and ``bench --check``).
- ``across_backends``: ONNX int8 against TFLite int8; ``across_platforms``: x86-64 against aarch64.

A measured quantity is named by its limit key without ``min_``/``max_`` (``MEASURES``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LIMITS_FILE",
    "TASKS",
    "GROUND_TRUTH_KEYS",
    "PARITY_KEYS",
    "PAIR_KEYS",
    "WITHOUT_GROUND_TRUTH",
    "MEASURES",
    "Limits",
    "load_limits",
    "limit_failures",
]

LIMITS_FILE = Path(__file__).with_name("limits.json")
TASKS = ("classifier", "segmenter")
GROUND_TRUTH_KEYS = {"classifier": ("min_accuracy",), "segmenter": ("min_dice",)}
"""Limits against the data's labels or masks, applied to every format."""
PARITY_KEYS = {
    "classifier": ("min_agreement", "max_prob_delta", "max_accuracy_drop"),
    "segmenter": ("min_parity_dice", "max_prob_delta", "max_dice_drop"),
}
"""Per-format limits against the Keras original on the same images."""
PAIR_KEYS = ("min_agreement", "max_prob_delta", "min_parity_dice")
"""Limits of two deployables compared with each other (``across_backends``, ``across_platforms``)."""
WITHOUT_GROUND_TRUTH = ("min_agreement", "max_prob_delta", "min_parity_dice")
"""Parity keys that need no labels (what export validation can check); the ``*_drop`` keys need them."""
MEASURES = {"min_accuracy": "accuracy", "min_dice": "dice", "min_agreement": "agreement",
            "min_parity_dice": "parity_dice", "max_prob_delta": "max_prob_delta",
            "max_accuracy_drop": "accuracy_drop", "max_dice_drop": "dice_drop"}
"""Limit key -> the measured quantity it bounds."""
EPS = 1e-9
"""Slack for float round-off when comparing with a limit."""
_SECTIONS = ("agreement_with_ground_truth", "parity_with_keras", "across_backends", "across_platforms")


@dataclass(frozen=True)
class Limits:
    """A validated limits file.

    Attributes:
        ground_truth: ``{task: {key: limit}}`` (keys ``GROUND_TRUTH_KEYS``).
        parity: ``{task: {format: {key: limit}}}`` (keys ``PARITY_KEYS``).
        across_backends, across_platforms: ``{key: limit}`` (keys ``PAIR_KEYS``).
        source: the file they came from.
    """

    ground_truth: dict[str, dict[str, float]] = field(default_factory=dict)
    parity: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    across_backends: dict[str, float] = field(default_factory=dict)
    across_platforms: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def parity_for(self, task: str, fmt: str, without_ground_truth: bool = False) -> dict[str, float]:
        """The parity limits of one format (empty when none are set); only the label-free ones if asked."""
        limits = self.parity.get(task, {}).get(fmt, {})
        return {k: v for k, v in limits.items() if not without_ground_truth or k in WITHOUT_GROUND_TRUTH}


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where} must be a finite number >= 0, got {value!r}")
    return float(value)


def _keyed(values: object, allowed: tuple[str, ...], where: str) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be an object of limits")
    unknown = sorted(k for k in values if not k.startswith("_") and k not in allowed)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; use {', '.join(allowed)}")
    return {k: _number(v, f"{where}.{k}") for k, v in values.items() if not k.startswith("_")}


def _tasks(section: object, where: str) -> dict:
    if not isinstance(section, dict):
        raise ValueError(f"{where} must be an object")
    unknown = sorted(k for k in section if not k.startswith("_") and k not in TASKS)
    if unknown:
        raise ValueError(f"{where} has unknown tasks {unknown}; expected 'classifier' and/or 'segmenter'")
    return {k: v for k, v in section.items() if not k.startswith("_")}


def load_limits(path: str | Path | None = None) -> Limits:
    """Read and validate a limits file (default: the committed ``tumorscope/assess/limits.json``).

    Every section is optional; keys starting with ``_`` are comments.

    Raises:
        FileNotFoundError: missing file. ValueError: not JSON, an unknown section/task/format/key, a bad number.
    """
    from tumorscope.export.formats import get_format

    path = Path(path) if path is not None else LIMITS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: limits file not found; pass --thresholds FILE")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    unknown = sorted(k for k in raw if not k.startswith("_") and k not in _SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown section {unknown[0]!r}; expected {', '.join(_SECTIONS)}")
    truth = {task: _keyed(v, GROUND_TRUTH_KEYS[task], f"{path}: agreement_with_ground_truth.{task}")
             for task, v in _tasks(raw.get("agreement_with_ground_truth", {}), f"{path}: ground truth").items()}
    parity: dict = {}
    for task, formats in _tasks(raw.get("parity_with_keras", {}), f"{path}: parity_with_keras").items():
        parity[task] = {}
        for name, values in formats.items():
            if name.startswith("_"):
                continue
            get_format(name)  # raises with the known names
            parity[task][name] = _keyed(values, PARITY_KEYS[task], f"{path}: parity_with_keras.{task}.{name}")
    pairs = {s: _keyed(raw.get(s, {}), PAIR_KEYS, f"{path}: {s}") for s in ("across_backends", "across_platforms")}
    return Limits(truth, parity, pairs["across_backends"], pairs["across_platforms"], str(path))


def _breaks(key: str, value: float | None, limit: float) -> str | None:
    """Why ``value`` breaks the ``min_``/``max_`` limit ``key``, or None."""
    name = MEASURES[key]
    if value is None or not math.isfinite(value):
        return f"{name} unavailable (needs {key} {limit:g})"
    if key.startswith("min_") and value < limit - EPS:
        return f"{name} {value:.4f} < {key} {limit:g}"
    if key.startswith("max_") and value > limit + EPS:
        return f"{name} {value:.4f} > {key} {limit:g}"
    return None


def limit_failures(limits: Mapping[str, float], measured: Mapping[str, float | None]) -> list[str]:
    """One line per limit that ``measured`` (``{quantity: value}``, names from ``MEASURES``) breaks; empty: pass.

    A limit whose quantity is missing or not finite fails as "unavailable".
    """
    return [reason for key, limit in limits.items() if (reason := _breaks(key, measured.get(MEASURES[key]), limit))]
