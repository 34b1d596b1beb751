"""Benchmark every format of one model against its Keras original: latency, memory, accuracy and parity.

Each format runs in its own worker process (``python -m tumorscope.bench.worker``) on the same images of a
committed split; the parent computes accuracy (classifier) or Dice at the original mask size (segmenter)
from the saved predictions, and parity against the Keras predictions. Artifacts missing from the model
folder are exported on demand into a cache folder keyed by the Keras file's sha256 (never into cwd).
A failing format becomes a row with its status; the others still run.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import tumorscope
from tumorscope import DISCLAIMER, metrics
from tumorscope.assess.items import label_positions, pick_evenly, read_mask
from tumorscope.assess.limits import Limits, load_limits
from tumorscope.assess.parity import compare_outputs, mean_mask_dice
from tumorscope.bench.gate import check_rows, parity_failures
from tumorscope.bench.machine import library_versions, machine_info
from tumorscope.bench.worker import PREDICTIONS_FILE, RESULT_FILE
from tumorscope.datasets import SplitItem, classification_items, resolve_data_root, segmentation_items
from tumorscope.export.formats import FORMAT_NAMES, ExportFormat, artifact_path, parse_formats
from tumorscope.runtime.errors import DecodeError, one_line
from tumorscope.runtime.postprocess import mask_at_size

__all__ = ["BenchReport", "ROW_FIELDS", "TASKS", "CACHE_ENV", "default_cache_dir", "benchmark"]

TASKS = ("classifier", "segmenter")
CACHE_ENV = "TUMORSCOPE_CACHE"
"""Overrides the cache root (default ``$XDG_CACHE_HOME/tumorscope`` or ``~/.cache/tumorscope``)."""
WORKER_TIMEOUT_S = 3600
_COMMON = ("format", "status", "source", "size_mb", "load_ms", "first_inference_ms", "latency_ms_p50",
           "latency_ms_p90", "throughput_ips", "peak_rss_mb", "n_images")
ROW_FIELDS = {
    "classifier": (*_COMMON, "accuracy", "accuracy_delta", "agreement", "max_prob_delta", "mean_prob_delta",
                   "input_check_ms_p50", "input_check_share", "input_check_accepted", "extra_outputs_share", "path",
                   "error"),
    "segmenter": (*_COMMON, "dice", "dice_delta", "parity_dice", "max_prob_delta", "path", "error"),
}
"""Keys of every row, in column order. ``*_delta`` = format minus Keras (negative: worse than the original)."""


@dataclass
class BenchReport:
    """One benchmark: a header (machine, versions, settings) and one row per format, Keras first.

    Attributes:
        header: ``{"task", "split", "n_images", "threads", "batch", "runs", "warmup", "date", "model_dir",
            "thresholds" (the limits file), "machine": {...}, "versions": {...}, "tumorscope", "disclaimer"}``.
        rows: dicts with the keys ``ROW_FIELDS[task]``; None where a value is unavailable.
        failures: every failed threshold (``check_rows``), one line each; empty when the gate passes.
    """

    header: dict
    rows: list[dict]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no threshold failed."""
        return not self.failures

    def to_dict(self) -> dict:
        """JSON-ready ``{**header, "rows": [...], "check": {"passed", "failures"}}``."""
        return {**self.header, "rows": self.rows, "check": {"passed": self.passed, "failures": self.failures}}


def default_cache_dir() -> Path:
    """``$TUMORSCOPE_CACHE/bench``, else ``$XDG_CACHE_HOME/tumorscope/bench``, else ``~/.cache/tumorscope/bench``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "bench"
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "tumorscope" / "bench"


def _empty_row(task: str, fmt: str, **values: object) -> dict:
    return {key: None for key in ROW_FIELDS[task]} | {"format": fmt} | values


def _failed(task: str, fmt: str, status: str, error: str, path: Path | None, source: str | None) -> dict:
    size = round(path.stat().st_size / 2**20, 3) if path is not None and path.is_file() else None
    status = status if status == "export failed" else f"error: {one_line(error, 120)}"
    return _empty_row(task, fmt, status=status, error=one_line(error, 300), source=source, size_mb=size,
                      path=str(path) if path is not None else None)


# -- artifacts -------------------------------------------------------------------------------------------------


def _export_missing(keras_path: Path, missing: list[ExportFormat], cache: Path, data_root: Path | None,
                    log: Callable[[str], None]) -> dict[str, tuple[Path | None, str | None]]:
    """Export ``missing`` formats into ``cache``; ``{name: (path or None, error or None)}``."""
    if not keras_path.is_file():
        reason = f"{keras_path} not found, so it cannot be exported; put the artifact in --model-dir"
        return {f.name: (None, reason) for f in missing}
    from tumorscope.export.exporter import export_model

    log(f"exporting {', '.join(f.name for f in missing)} into {cache} (cached for the next run)")
    try:
        results = export_model(keras_path, [f.name for f in missing], out_dir=cache, data_root=data_root)
    except (FileNotFoundError, ValueError, TypeError, RuntimeError, ImportError, OSError) as exc:
        return {f.name: (None, one_line(exc, 300)) for f in missing}
    return {r.format: (r.path if r.passed else None, r.error) for r in results}


def _artifacts(keras_path: Path, formats: list[ExportFormat], model_dir: Path, cache_dir: Path,
               data_root: Path | None, log: Callable[[str], None]) -> dict[str, tuple[Path | None, str, str | None]]:
    """``{format: (path or None, source, error)}``: the model folder first, then the cache, else export."""
    found: dict[str, tuple[Path | None, str, str | None]] = {}
    missing = []
    cache = None
    for fmt in formats:
        local = keras_path if fmt.backend == "keras" else artifact_path(keras_path, fmt, model_dir)
        if local.is_file() or fmt.backend == "keras":
            found[fmt.name] = (local, "model dir", None)
            continue
        if cache is None and keras_path.is_file():
            from tumorscope.manifest import file_sha256

            cache = cache_dir / f"{keras_path.stem}-{file_sha256(keras_path)[:16]}"
        cached = artifact_path(keras_path, fmt, cache) if cache is not None else None
        if cached is not None and cached.is_file():
            found[fmt.name] = (cached, "cache", None)
        else:
            missing.append(fmt)
    if missing:
        exported = _export_missing(keras_path, missing, cache or cache_dir, data_root, log)
        for fmt in missing:
            path, error = exported.get(fmt.name, (None, "export produced no result"))
            found[fmt.name] = (path, "exported", error)
    return found


# -- workers ---------------------------------------------------------------------------------------------------


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(tumorscope.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _run_worker(path: Path, items_file: Path, work: Path, settings: dict, timeout: float) -> dict:
    """Run one worker process; its ``result.json`` or ``{"ok": False, "error": ...}``."""
    work.mkdir()
    command = [sys.executable, "-m", "tumorscope.bench.worker", "--model", str(path), "--items", str(items_file),
               "--out", str(work)] + [f"--{k}={v}" for k, v in settings.items()]
    try:
        done = subprocess.run(command, cwd=work, env=_worker_env(settings["threads"]), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"worker timed out after {timeout:g} s"}
    result_file = work / RESULT_FILE
    if result_file.is_file():
        return json.loads(result_file.read_text(encoding="utf-8"))
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"ok": False, "error": f"worker exited with code {done.returncode}: {tail}"}


# -- metrics ---------------------------------------------------------------------------------------------------


def _read_mask(path: Path) -> np.ndarray | None:
    try:
        return read_mask(path)
    except DecodeError:
        return None


def _classifier_metrics(items: list[SplitItem], outputs: dict, reference: dict | None) -> dict:
    kept, probabilities = outputs["kept"], outputs["predictions"]
    truth = np.array([items[i].label for i in kept])
    values = {"accuracy": metrics.accuracy(truth, probabilities.argmax(axis=1))}
    if reference is not None:
        common = sorted(set(kept) & set(reference["kept"]))
        mine = probabilities[[kept.index(i) for i in common]]
        theirs = reference["predictions"][[reference["kept"].index(i) for i in common]]
        checks = compare_outputs("classifier", theirs, mine)
        values |= {k: checks[k] for k in ("agreement", "max_prob_delta", "mean_prob_delta")}
        values["accuracy_delta"] = values["accuracy"] - reference["accuracy"]
    return values


def _segmenter_metrics(items: list[SplitItem], outputs: dict, reference: dict | None,
                       truth: dict[int, np.ndarray | None]) -> dict:
    """Mean Dice at the original mask size; parity Dice between the thresholded masks of both models."""
    kept, maps, threshold = outputs["kept"], outputs["predictions"], outputs["mask_threshold"]
    min_region = outputs["min_region_pct"]
    masks, scores = {}, []
    for index, probability in zip(kept, maps, strict=True):
        if index not in truth:
            truth[index] = _read_mask(items[index].mask)
        if truth[index] is None:
            continue
        masks[index] = mask_at_size(probability, truth[index].shape, threshold, min_region)
        scores.append(metrics.dice(masks[index], truth[index]))
    if not scores:
        raise ValueError("no readable masks for the benchmark images; check --data")
    values: dict = {"dice": float(np.mean(scores)), "masks": masks}
    if reference is not None:
        common = sorted(set(masks) & set(reference["masks"]))
        values["parity_dice"] = mean_mask_dice([reference["masks"][i] for i in common], [masks[i] for i in common])
        mine = maps[[kept.index(i) for i in common]]
        theirs = reference["predictions"][[reference["kept"].index(i) for i in common]]
        if mine.shape == theirs.shape:
            values["max_prob_delta"] = float(np.abs(mine - theirs).max())
        values["dice_delta"] = values["dice"] - reference["dice"]
    return values


def _measure(task: str, items: list[SplitItem], result: dict, work: Path, path: Path, reference: dict | None,
             truth: dict) -> dict:
    """Worker result + predictions -> metric values (and what a later parity comparison needs)."""
    if result["task"] != task:
        raise ValueError(f"{path}: the spec says this is a {result['task']} model, not a {task}")
    predictions = np.load(work / PREDICTIONS_FILE)
    outputs = {"kept": result["kept"], "mask_threshold": result["mask_threshold"],
               "min_region_pct": result["min_region_pct"], "predictions": predictions}
    if task == "classifier":
        outputs["predictions"] = predictions[:, label_positions(result["labels"], path)]
        return outputs | _classifier_metrics(items, outputs, reference)
    return outputs | _segmenter_metrics(items, outputs, reference, truth)


def _row(task: str, fmt: str, path: Path, source: str, result: dict, measured: dict) -> dict:
    timing = ("load_ms", "first_inference_ms", "latency_ms_p50", "latency_ms_p90", "throughput_ips", "peak_rss_mb")
    row = _empty_row(task, fmt, status="ok", source=source, path=str(path),
                     size_mb=round(path.stat().st_size / 2**20, 3), n_images=len(result["kept"]))
    row |= {k: round(result[k], 3) for k in timing}
    row |= {k: round(result[k], 5) for k in ("input_check_ms_p50", "input_check_share", "input_check_accepted",
                                             "extra_outputs_share")
            if k in result}  # classifier exports with an input check (#13)
    row |= {k: v for k, v in measured.items() if k in ROW_FIELDS[task] and k not in ("format", "path")}
    if fmt == "keras":  # parity with itself, by definition
        row |= {"agreement": 1.0, "max_prob_delta": 0.0, "mean_prob_delta": 0.0} if task == "classifier" else {
            "parity_dice": 1.0, "max_prob_delta": 0.0}
        row[f"{'accuracy' if task == 'classifier' else 'dice'}_delta"] = 0.0
    if result["errors"]:
        row["error"] = f"{len(result['errors'])} unreadable images, e.g. {one_line(result['errors'][0]['error'], 300)}"
    return row


# -- orchestration ---------------------------------------------------------------------------------------------


def _items(task: str, data_root: Path, split: str, limit: int | None) -> list[SplitItem]:
    find = classification_items if task == "classifier" else segmentation_items
    items = pick_evenly(find(data_root, split), limit)
    if not items:
        raise ValueError(f"split {split!r} has no images")
    return items


def _formats(formats: str | Iterable[str] | None) -> list[ExportFormat]:
    chosen = parse_formats(FORMAT_NAMES if formats is None else formats)
    keras = parse_formats(["keras"])
    return [*keras, *(f for f in chosen if f.backend != "keras")]


def benchmark(
    task: str,
    formats: str | Iterable[str] | None = None,
    *,
    model_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    runs: int = 50,
    warmup: int = 5,
    threads: int | None = None,
    batch: int = 16,
    cache_dir: str | Path | None = None,
    thresholds: Limits | str | Path | None = None,
    timeout: float = WORKER_TIMEOUT_S,
    log: Callable[[str], None] | None = None,
) -> BenchReport:
    """Benchmark ``<model_dir>/<task>.keras`` and its exports, one worker process per format.

    Args:
        task: ``classifier`` or ``segmenter``.
        formats: names (``"keras,onnx-int8"`` or a list); None: every format. The Keras original always
            runs first: it is the parity reference.
        model_dir: folder with ``<task>.keras`` and exported ``<task><suffix>`` artifacts (default: the
            runtime's ``resolve_model_dir``: ``$TUMORSCOPE_MODELS`` or the checkout's ``models/``).
        data_root: real data root (default ``$TUMORSCOPE_DATA``).
        split: committed split to measure on; ``limit``: at most N images, evenly spaced.
        runs / warmup: timed and untimed batch-1 runs; the slowest 5% of the timed runs are dropped.
        threads: inference threads of every backend (default: the cores this process may use).
        batch: batch size of the throughput measurement and of the prediction pass.
        cache_dir: where missing artifacts are exported (default ``default_cache_dir()``).
        thresholds: a ``Limits`` or a limits file path (default: the committed ``tumorscope/assess/limits.json``).
        timeout: seconds one worker may take.
        log: called with one progress line per step (e.g. ``click.echo`` to stderr).

    Returns:
        The report; ``report.failures`` lists every failed threshold.

    Raises:
        FileNotFoundError: model folder, data root or split files missing. ValueError: bad arguments.
    """
    from tumorscope.runtime.pipeline import resolve_model_dir

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if runs < 1 or batch < 1 or warmup < 0 or (threads is not None and threads < 1):
        raise ValueError(f"runs, batch and threads must be >= 1 and warmup >= 0, got {runs}, {batch}, {threads}, "
                         f"{warmup}")
    log = log or (lambda _line: None)
    chosen = _formats(formats)
    limits = thresholds if isinstance(thresholds, Limits) else load_limits(thresholds)
    model_dir = resolve_model_dir(model_dir)
    root = resolve_data_root(data_root)
    items = _items(task, root, split, limit)
    machine = machine_info()
    threads = threads or machine["usable_cores"] or 1
    settings = {"runs": runs, "warmup": warmup, "threads": threads, "batch": batch}
    keras_path = model_dir / f"{task}.keras"
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    artifacts = _artifacts(keras_path, chosen, model_dir, cache, root, log)
    rows, reference, reference_row, truth = [], None, None, {}
    with tempfile.TemporaryDirectory(prefix="tumorscope-bench-") as tmp:
        items_file = Path(tmp) / "items.json"
        items_file.write_text(json.dumps({"images": [str(i.image) for i in items]}), encoding="utf-8")
        for fmt in chosen:
            path, source, error = artifacts[fmt.name]
            if path is None:
                rows.append(_failed(task, fmt.name, "export failed", error or "export failed", None, source))
                continue
            log(f"benchmarking {task} {fmt.name} ({path}) on {len(items)} {split} images")
            work = Path(tmp) / fmt.name
            result = _run_worker(path, items_file, work, settings, timeout)
            if not result["ok"]:
                rows.append(_failed(task, fmt.name, "error", result["error"], path, source))
                continue
            try:
                measured = _measure(task, items, result, work, path, reference, truth)
            except (ValueError, OSError) as exc:
                rows.append(_failed(task, fmt.name, "error", str(exc), path, source))
                continue
            row = _row(task, fmt.name, path, source, result, measured)
            if fmt.backend == "keras":
                reference, reference_row = measured, row
            elif reference_row is not None and (
                failures := parity_failures(task, row, reference_row, limits.parity_for(task, fmt.name))
            ):
                row["status"] = "parity failed"
                row["error"] = "; ".join(failures)
            rows.append(row)
    header = {
        "task": task, "split": split, "n_images": len(items), "limit": limit, **settings,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model_dir": str(model_dir),
        "thresholds": limits.source or "(given as Limits)",
        "machine": machine, "versions": library_versions(), "tumorscope": tumorscope.__version__,
        "disclaimer": DISCLAIMER,
    }
    return BenchReport(header, rows, check_rows(task, rows, limits))
