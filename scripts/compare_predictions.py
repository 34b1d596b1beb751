"""Compare `tumorscope predict` results of a reference platform (x86-64) with another one (emulated aarch64).

Per backend, each image must have the same label on both platforms, every class probability within
``--prob-tol`` (absolute) and a tumor mask Dice of at least ``--min-dice``; the defaults are the
``across_platforms`` limits of the one limits file, ``tumorscope/assess/limits.json``. Int8 kernels differ between
ARM (NEON) and x86 (AVX2/VNNI) in accumulation order and requantization rounding, so outputs may move by a
few quantization steps; the tolerances absorb that and nothing more. Both sides' ``timings_ms`` are shown,
the ARM side labelled "emulated, not Pi speed" (qemu user-mode emulation is many times slower than a Pi).

Input layout (written by scripts/check_aarch64.sh): ``<dir>/predict.<backend>.json`` (the
``tumorscope predict --json`` output) and ``<dir>/masks.<backend>.npz`` (scripts/dump_masks.py).

Usage:
    python scripts/compare_predictions.py REF_DIR OTHER_DIR [--backends onnx,tflite] [--prob-tol 0.02]
        [--min-dice 0.98] [--json report.json]

Exit code 0 when every check passes, 1 when any fails. For research and education only - not for diagnosis.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope import DISCLAIMER
from tumorscope.assess.limits import load_limits
from tumorscope.metrics import dice

__all__ = [
    "PROB_TOL",
    "MIN_DICE",
    "Check",
    "load_rows",
    "load_masks",
    "compare_backend",
    "format_report",
    "main",
]

_LIMITS = load_limits().across_platforms
PROB_TOL = _LIMITS["max_prob_delta"]
"""Largest allowed absolute difference of any class probability between the two platforms."""
MIN_DICE = _LIMITS["min_parity_dice"]
"""Smallest allowed Dice between the two platforms' tumor masks of one image (1.0 when both are empty)."""


@dataclass(frozen=True)
class Check:
    """One image of one backend compared across the two platforms.

    Attributes:
        backend: ``onnx`` or ``tflite``.
        path: the input as both platforms named it.
        label_ref, label_other: predicted class names (None when that side failed).
        prob_delta: largest absolute class-probability difference (NaN when not comparable).
        dice: Dice of the two tumor masks (NaN when not comparable).
        area_ref, area_other: tumor area in % of the image.
        ms_ref, ms_other: total analysis time per platform in milliseconds.
        problems: why the check failed; empty when it passed.
    """

    backend: str
    path: str
    label_ref: str | None
    label_other: str | None
    prob_delta: float
    dice: float
    area_ref: float | None
    area_other: float | None
    ms_ref: float | None
    ms_other: float | None
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def load_rows(path: Path) -> dict[str, dict[str, Any]]:
    """``tumorscope predict --json`` output -> ``{path: row}``; ValueError names a file that is not such output."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read predictions ({exc}); rerun scripts/check_aarch64.sh") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "path" in r for r in rows):
        raise ValueError(f"{path}: expected the JSON array of `tumorscope predict --json`")
    return {row["path"]: row for row in rows}


def load_masks(path: Path) -> dict[str, np.ndarray]:
    """scripts/dump_masks.py output -> ``{path: (H, W) bool mask}`` (inputs that failed have no entry)."""
    try:
        with np.load(path) as data:
            paths = [str(p) for p in data["paths"]]
            return {p: data[f"mask_{i}"].astype(bool) for i, p in enumerate(paths) if f"mask_{i}" in data}
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read masks ({exc}); rerun scripts/check_aarch64.sh") from exc


def _prob_delta(ref: dict[str, float], other: dict[str, float]) -> float:
    if set(ref) != set(other):
        return math.inf
    return max((abs(float(ref[k]) - float(other[k])) for k in ref), default=0.0)


def _mask_dice(ref: np.ndarray | None, other: np.ndarray | None) -> float:
    if ref is None or other is None or ref.shape != other.shape:
        return math.nan
    return float(dice(other, ref))


def _compare_one(
    backend: str,
    path: str,
    ref: dict[str, Any] | None,
    other: dict[str, Any] | None,
    masks: tuple[np.ndarray | None, np.ndarray | None],
    prob_tol: float,
    min_dice: float,
) -> Check:
    problems = []
    for side, row in (("reference", ref), ("other", other)):
        if row is None:
            problems.append(f"no {side} result")
        elif row.get("error"):
            problems.append(f"{side} failed: {row['error']}")
    ok = not problems
    label_ref, label_other = (ref or {}).get("label"), (other or {}).get("label")
    delta = _prob_delta(ref["probabilities"], other["probabilities"]) if ok else math.nan
    mask_dice = _mask_dice(*masks)
    if ok:
        if label_ref != label_other:
            problems.append(f"label {label_ref} != {label_other}")
        if not delta <= prob_tol:
            problems.append(f"probability delta {delta:.4f} > {prob_tol}")
        if math.isnan(mask_dice):
            shapes = [None if m is None else m.shape for m in masks]
            problems.append(f"masks not comparable (shapes {shapes[0]} vs {shapes[1]})")
        elif mask_dice < min_dice:
            problems.append(f"mask Dice {mask_dice:.4f} < {min_dice}")
    return Check(
        backend=backend,
        path=path,
        label_ref=label_ref,
        label_other=label_other,
        prob_delta=delta,
        dice=mask_dice,
        area_ref=(ref or {}).get("tumor_area_pct"),
        area_other=(other or {}).get("tumor_area_pct"),
        ms_ref=((ref or {}).get("timings_ms") or {}).get("total"),
        ms_other=((other or {}).get("timings_ms") or {}).get("total"),
        problems=tuple(problems),
    )


def compare_backend(
    backend: str,
    ref_rows: dict[str, dict[str, Any]],
    other_rows: dict[str, dict[str, Any]],
    ref_masks: dict[str, np.ndarray],
    other_masks: dict[str, np.ndarray],
    prob_tol: float = PROB_TOL,
    min_dice: float = MIN_DICE,
) -> list[Check]:
    """One ``Check`` per image present on either side, in the reference order (then the other's extras)."""
    paths = list(ref_rows) + [p for p in other_rows if p not in ref_rows]
    return [
        _compare_one(
            backend,
            path,
            ref_rows.get(path),
            other_rows.get(path),
            (ref_masks.get(path), other_masks.get(path)),
            prob_tol,
            min_dice,
        )
        for path in paths
    ]


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def format_report(checks: list[Check], prob_tol: float, min_dice: float, names: tuple[str, str]) -> str:
    """Plain-text PASS/FAIL table, the tolerances, the latencies (emulated side labelled) and the disclaimer."""
    ref_name, other_name = names
    header = ("backend", "image", f"label {ref_name}", f"label {other_name}", "max|dp|", "dice",
              f"area% {ref_name}", f"area% {other_name}", "status")
    body = [
        (c.backend, c.path, c.label_ref or "-", c.label_other or "-", _num(c.prob_delta, ".4f"), _num(c.dice, ".4f"),
         _num(c.area_ref, ".2f"), _num(c.area_other, ".2f"), "PASS" if c.passed else "FAIL")
        for c in checks
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *body]]
    lines += [f"  {c.backend} {c.path}: {'; '.join(c.problems)}" for c in checks if not c.passed]
    failed = sum(not c.passed for c in checks)
    lines += [
        "",
        f"tolerances: same label, max |probability difference| <= {prob_tol}, mask Dice >= {min_dice}",
        f"latency ms/image (median): {_latency(checks, names)}",
        f"{'FAIL' if failed or not checks else 'PASS'}: {len(checks) - failed}/{len(checks)} checks passed",
        DISCLAIMER,
    ]
    return "\n".join(lines)


def _latency(checks: list[Check], names: tuple[str, str]) -> str:
    parts = []
    for backend in dict.fromkeys(c.backend for c in checks):
        ref = [c.ms_ref for c in checks if c.backend == backend and c.ms_ref is not None]
        other = [c.ms_other for c in checks if c.backend == backend and c.ms_other is not None]
        parts.append(f"{backend} {names[0]} {_num(float(np.median(ref)) if ref else None, '.0f')}, "
                     f"{names[1]} {_num(float(np.median(other)) if other else None, '.0f')}"
                     + (" (emulated, not Pi speed)" if names[1] == "aarch64" else ""))
    return "; ".join(parts) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref_dir", type=Path, help="reference results (x86-64)")
    parser.add_argument("other_dir", type=Path, help="results to check (emulated aarch64)")
    parser.add_argument("--backends", default="onnx,tflite", help="comma-separated backends to compare")
    parser.add_argument("--prob-tol", type=float, default=PROB_TOL)
    parser.add_argument("--min-dice", type=float, default=MIN_DICE)
    parser.add_argument("--names", default="x86_64,aarch64", help="column names of the two platforms")
    parser.add_argument("--json", type=Path, default=None, help="also write the checks as JSON here")
    args = parser.parse_args(argv)
    names = tuple(args.names.split(",", 1)) if "," in args.names else ("ref", "other")
    checks: list[Check] = []
    try:
        for backend in filter(None, args.backends.split(",")):
            rows = [load_rows(d / f"predict.{backend}.json") for d in (args.ref_dir, args.other_dir)]
            masks = [load_masks(d / f"masks.{backend}.npz") for d in (args.ref_dir, args.other_dir)]
            checks += compare_backend(backend, *rows, *masks, prob_tol=args.prob_tol, min_dice=args.min_dice)
    except ValueError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    print(format_report(checks, args.prob_tol, args.min_dice, names))
    if args.json:
        report = [asdict(c) | {"passed": c.passed} for c in checks]
        args.json.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    return 0 if checks and all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
