"""The CI gate of ``bench --check``: benchmark rows against the one limits file (``assess/limits.json``)."""

from __future__ import annotations

from tumorscope.assess.limits import GROUND_TRUTH_KEYS, Limits, limit_failures

__all__ = ["parity_failures", "check_rows"]


def _drop(row: dict, reference: dict | None, metric: str) -> float | None:
    if reference is None or row.get(metric) is None or reference.get(metric) is None:
        return None
    return reference[metric] - row[metric]


def parity_failures(task: str, row: dict, reference: dict | None, limits: dict[str, float]) -> list[str]:
    """Reasons ``row`` breaks its ``parity_with_keras`` limits against the Keras ``reference`` row; empty when fine.

    Args:
        task: ``classifier`` or ``segmenter``.
        row: a benchmark row (``agreement``, ``max_prob_delta``, ``accuracy`` or ``parity_dice``, ``dice``).
        reference: the Keras row (None when the original could not run).
        limits: ``{key: limit}`` of this format (``Limits.parity_for``).
    """
    metric = "accuracy" if task == "classifier" else "dice"
    return limit_failures(limits, {**row, f"{metric}_drop": _drop(row, reference, metric)})


def check_rows(task: str, rows: list[dict], limits: Limits) -> list[str]:
    """Every failed limit of a benchmark, one line each (empty list: the gate passes).

    A row whose status is not ``ok`` fails (export failed, error, parity failed); the task's
    ``agreement_with_ground_truth`` limits apply to every row, its ``parity_with_keras`` limits to the
    formats listed there.
    """
    truth = limits.ground_truth.get(task, {})
    reference = next((r for r in rows if r["format"] == "keras" and r["status"] == "ok"), None)
    lines = []
    for row in rows:
        prefix = f"{task} {row['format']}:"
        if row["status"] != "ok" and row["status"] != "parity failed":
            lines.append(f"{prefix} status {row['status']!r}" + (f" ({row['error']})" if row.get("error") else ""))
            continue
        checked = {k: v for k, v in truth.items() if k in GROUND_TRUTH_KEYS[task]}
        lines += [f"{prefix} {reason}" for reason in limit_failures(checked, row)]
        lines += [f"{prefix} {reason}" for reason in parity_failures(task, row, reference,
                                                                     limits.parity_for(task, row["format"]))]
    return lines
