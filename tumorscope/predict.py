"""Batch prediction: expand paths, folders and globs, analyze each input, collect one row per input.

A bad input never stops the batch: its row carries a one-line ``error`` and the others still run.
Imports only ``tumorscope.runtime`` (no TensorFlow), so ``tumorscope predict`` starts fast.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2

from tumorscope import DISCLAIMER
from tumorscope.records import RecordWriter
from tumorscope.runtime import Analysis, BackendOptions, Pipeline, resolve_model_dir
from tumorscope.runtime.errors import one_line
from tumorscope.runtime.runner import PipelineRunner

__all__ = [
    "IMAGE_SUFFIXES",
    "expand_inputs",
    "open_pipeline",
    "predict_rows",
    "predict_to_file",
    "format_table",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dcm")
"""Files taken from a folder argument (case-insensitive); explicit file arguments are always taken."""
_GLOB_CHARS = set("*?[")


def expand_inputs(args: Iterable[str | Path]) -> list[tuple[str, str | None]]:
    """Turn command-line arguments into inputs, in argument order, duplicates dropped.

    A file is taken as is (even a missing one: its analysis reports the error); a folder gives its image
    files (``IMAGE_SUFFIXES``, not recursive, sorted by name); a pattern with ``*?[`` gives its sorted
    matches (``**`` recurses).

    Returns:
        ``(path, error)`` pairs; ``error`` is a one-line reason for an argument that yields no file
        (empty folder, pattern without matches), else None.
    """
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()

    def add(path: str, error: str | None = None) -> None:
        if path not in seen:
            seen.add(path)
            out.append((path, error))

    for arg in map(str, args):
        path = Path(arg)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                add(arg, f"{arg}: folder has no image files ({', '.join(IMAGE_SUFFIXES)})")
            for file in files:
                add(str(file))
        elif not path.exists() and _GLOB_CHARS & set(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if Path(m).is_file())
            if not matches:
                add(arg, f"{arg}: no files match this pattern")
            for match in matches:
                add(match)
        else:
            add(arg)
    return out


def open_pipeline(
    model_dir: str | Path | None = None,
    backend: str = "onnx",
    threads: int | None = None,
    providers: tuple[str, ...] | None = None,
) -> Pipeline:
    """Load both deployable models of ``backend`` from the resolved models folder.

    Raises:
        FileNotFoundError, ValueError, RuntimeError, ImportError: one line saying what is missing or wrong.
    """
    options = BackendOptions(threads=threads, providers=tuple(providers) if providers else None)
    return Pipeline.from_model_dir(resolve_model_dir(model_dir), backend=backend, options=options)


def _overlay_path(overlay_dir: Path, name: str, used: set[Path]) -> Path:
    """``<stem>.overlay.png`` in ``overlay_dir``; ``<stem>-2.overlay.png``... when a stem repeats in the batch."""
    stem = Path(name).stem or "input"
    path, n = overlay_dir / f"{stem}.overlay.png", 1
    while path in used:
        n += 1
        path = overlay_dir / f"{stem}-{n}.overlay.png"
    used.add(path)
    return path


def _write_overlay(analysis: Analysis, path: Path) -> str | None:
    """Write the overlay PNG; returns a one-line error or None."""
    try:
        ok = cv2.imwrite(str(path), cv2.cvtColor(analysis.overlay(), cv2.COLOR_RGB2BGR))
    except (cv2.error, ValueError) as exc:
        return f"{path}: cannot write overlay ({one_line(exc, 200)})"
    return None if ok else f"{path}: cannot write overlay; check that the folder is writable"


def _analyze_or_exception(pipeline: Pipeline, path: str) -> Analysis | Exception:
    """``pipeline.analyze_path(path)``, or the exception it raised (so a worker thread hands it back)."""
    try:
        return pipeline.analyze_path(path)
    except Exception as exc:  # noqa: BLE001 - re-raised by predict_rows inside its per-input catch-all
        return exc


def predict_rows(
    inputs: list[tuple[str, str | None]], pipeline: Pipeline | PipelineRunner, overlay_dir: str | Path | None = None
) -> Iterator[dict[str, Any]]:
    """Analyze each input and yield its ``Analysis.to_dict()`` row, in order.

    Args:
        inputs: ``expand_inputs`` output.
        pipeline: the loaded models; a ``PipelineRunner`` analyses several inputs at once (same rows, in order).
        overlay_dir: when given, each successful input also gets ``<stem>.overlay.png`` there and its row
            an ``overlay`` key (the file path, or None when the input failed).

    Yields:
        One row per input; failures have ``error`` set and nulls elsewhere.
    """
    out_dir = Path(overlay_dir) if overlay_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    used: set[Path] = set()
    runner = pipeline if isinstance(pipeline, PipelineRunner) else PipelineRunner([pipeline])
    analyses = runner.map(_analyze_or_exception, (path for path, error in inputs if not error))
    for path, error in inputs:
        analysis = Analysis(name=path, error=error, backend=pipeline.backend) if error else next(analyses)
        if isinstance(analysis, Exception):  # raised in a worker: raise it here, as the sequential loop did
            raise analysis
        row = analysis.to_dict()
        if out_dir is not None:
            row["overlay"] = None
            if analysis.ok:
                target = _overlay_path(out_dir, path, used)
                row["error"] = _write_overlay(analysis, target)
                row["overlay"] = None if row["error"] else str(target)
        yield row


def predict_to_file(
    inputs: list[tuple[str, str | None]],
    pipeline: Pipeline | PipelineRunner,
    output: str | Path,
    resume: bool = False,
    overlay_dir: str | Path | None = None,
    progress: Callable[[Iterator[dict[str, Any]], int], Iterable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Stream one record per input into ``output`` (``.jsonl`` / ``.csv``), each flushed as it completes.

    Args:
        inputs: ``expand_inputs`` output (possibly one shard of it).
        pipeline: the loaded models, or a ``PipelineRunner``.
        output: the result file; see ``tumorscope.records.RecordWriter``.
        resume: skip the inputs already recorded in ``output`` and append (a partial last line is cut).
        overlay_dir: as in ``predict_rows``.
        progress: wraps the row iterator, given the number of rows to come (e.g. a progress bar).

    Returns:
        ``{"output", "inputs", "written", "skipped", "failed", "seconds", "images_per_s", "disclaimer"}``
        (``failed`` counts this run's records with an error).

    Raises:
        FileExistsError: ``output`` has records and ``resume`` is False. ValueError: bad suffix or file.
    """
    start = time.perf_counter()
    with RecordWriter(output, resume=resume) as writer:
        todo = [item for item in inputs if item[0] not in writer.recorded]
        rows: Iterable[dict[str, Any]] = predict_rows(todo, pipeline, overlay_dir)
        if progress is not None:
            rows = progress(rows, len(todo))
        failed = 0
        for row in rows:
            writer.write(row)
            failed += row["error"] is not None
        written = writer.written
    seconds = time.perf_counter() - start
    return {"output": str(output), "inputs": len(inputs), "written": written, "skipped": len(inputs) - len(todo),
            "failed": failed, "seconds": round(seconds, 3),
            "images_per_s": round(written / seconds, 2) if written and seconds > 0 else None, "disclaimer": DISCLAIMER}


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table (path, label, confidence, tumor area %, error) with a summary and the disclaimer."""
    header = ("path", "label", "confidence", "tumor %", "error")
    body = [
        (
            row["path"],
            row["label"] or "-",
            _cell(row["confidence"], ".3f"),
            _cell(row["tumor_area_pct"], ".2f"),
            row["error"] or "",
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in [header, *body]]
    failed = sum(row["error"] is not None for row in rows)
    summary = f"{len(rows)} input(s), {failed} failed" if failed else f"{len(rows)} input(s), all analysed"
    return "\n".join([*(line.rstrip() for line in lines), "", summary, DISCLAIMER])
