"""The CI gate: limits from one committed config (``thresholds.json``) checked against benchmark rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TASK_KEYS",
    "FORMAT_KEYS",
    "load_thresholds",
    "parity_failures",
    "check_rows",
]

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.json")
TASK_KEYS = {"classifier": ("min_accuracy",), "segmenter": ("min_dice",)}
"""Task-level limits, applied to every benchmarked format."""
FORMAT_KEYS = {
    "classifier": ("min_agreement", "max_prob_delta", "max_accuracy_drop"),
    "segmenter": ("min_parity_dice", "max_prob_delta", "max_dice_drop"),
}
"""Per-format parity limits against the Keras original."""
EPS = 1e-9
"""Slack for float round-off when comparing with a limit."""
_VALUE_NAMES = {"min_accuracy": "accuracy", "min_dice": "dice", "min_agreement": "agreement",
                "min_parity_dice": "parity_dice", "max_prob_delta": "max_prob_delta",
                "max_accuracy_drop": "accuracy_drop", "max_dice_drop": "dice_drop"}
"""Limit key -> the measured quantity it bounds (a row field, or a drop against the Keras row)."""


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where} must be a finite number >= 0, got {value!r}")
    return float(value)


def load_thresholds(path: str | Path | None = None) -> dict:
    """Read and validate a thresholds file (default: the committed ``tumorscope/bench/thresholds.json``).

    Returns:
        ``{task: {"min_accuracy" | "min_dice": float (optional), "formats": {format: {key: float}}}}``;
        keys starting with ``_`` are comments and are dropped.

    Raises:
        FileNotFoundError: missing file. ValueError: not JSON, unknown task/format/key, or a bad number.
    """
    from tumorscope.export.formats import get_format

    path = Path(path) if path is not None else DEFAULT_THRESHOLDS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: thresholds file not found; pass --thresholds FILE")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    out: dict = {}
    for task, section in raw.items():
        if task.startswith("_"):
            continue
        if task not in TASK_KEYS or not isinstance(section, dict):
            raise ValueError(f"{path}: unknown section {task!r}; expected objects 'classifier' and/or 'segmenter'")
        limits: dict = {"formats": {}}
        for key, value in section.items():
            if key.startswith("_") or key == "formats":
                continue
            if key not in TASK_KEYS[task]:
                raise ValueError(f"{path}: {task}.{key} is not a known limit; use {', '.join(TASK_KEYS[task])}")
            limits[key] = _number(value, f"{path}: {task}.{key}")
        for name, keys in section.get("formats", {}).items():
            get_format(name)  # raises with the known names
            allowed = FORMAT_KEYS[task]
            unknown = sorted(set(keys) - set(allowed))
            if unknown:
                raise ValueError(f"{path}: {task}.formats.{name} has unknown keys {unknown}; use {', '.join(allowed)}")
            limits["formats"][name] = {k: _number(v, f"{path}: {task}.formats.{name}.{k}") for k, v in keys.items()}
        out[task] = limits
    return out


def _breaks(key: str, value: float | None, limit: float) -> str | None:
    """Reason ``value`` breaks the ``min_``/``max_`` limit ``key``, or None."""
    name = _VALUE_NAMES[key]
    if value is None or not math.isfinite(value):
        return f"{name} unavailable (needs {key} {limit:g})"
    if key.startswith("min_") and value < limit - EPS:
        return f"{name} {value:.4f} < {key} {limit:g}"
    if key.startswith("max_") and value > limit + EPS:
        return f"{name} {value:.4f} > {key} {limit:g}"
    return None


def _drop(row: dict, reference: dict | None, metric: str) -> float | None:
    if reference is None or row.get(metric) is None or reference.get(metric) is None:
        return None
    return reference[metric] - row[metric]


def parity_failures(task: str, row: dict, reference: dict | None, limits: dict) -> list[str]:
    """Reasons ``row`` breaks its per-format limits against the Keras ``reference`` row; empty when fine.

    Args:
        task: ``classifier`` or ``segmenter``.
        row: a benchmark row (``agreement``, ``max_prob_delta``, ``accuracy`` or ``parity_dice``, ``dice``).
        reference: the Keras row (None when the original could not run).
        limits: ``{key: limit}`` of this format from ``load_thresholds``.
    """
    metric = "accuracy" if task == "classifier" else "dice"
    values = {
        "min_agreement": row.get("agreement"),
        "min_parity_dice": row.get("parity_dice"),
        "max_prob_delta": row.get("max_prob_delta"),
        f"max_{metric}_drop": _drop(row, reference, metric),
    }
    return [reason for key, limit in limits.items() if (reason := _breaks(key, values.get(key), limit))]


def check_rows(task: str, rows: list[dict], thresholds: dict) -> list[str]:
    """Every failed threshold of a benchmark, one line each (empty list: the gate passes).

    A row whose status is not ``ok`` fails (export failed, error, parity failed); task-level limits
    apply to every row; per-format limits to the formats listed in ``thresholds[task]["formats"]``.
    """
    limits = thresholds.get(task, {"formats": {}})
    reference = next((r for r in rows if r["format"] == "keras" and r["status"] == "ok"), None)
    lines = []
    for row in rows:
        prefix = f"{task} {row['format']}:"
        if row["status"] != "ok" and row["status"] != "parity failed":
            lines.append(f"{prefix} status {row['status']!r}" + (f" ({row['error']})" if row.get("error") else ""))
            continue
        for key in TASK_KEYS[task]:
            if key in limits and (reason := _breaks(key, row.get(_VALUE_NAMES[key]), limits[key])):
                lines.append(f"{prefix} {reason}")
        format_limits = limits["formats"].get(row["format"], {})
        lines += [f"{prefix} {reason}" for reason in parity_failures(task, row, reference, format_limits)]
    return lines
