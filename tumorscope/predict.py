"""Batch prediction: expand paths, folders and globs, analyze each input, collect one row per input.

A bad input never stops the batch: its row carries a one-line ``error`` and the others still run.
Imports only ``tumorscope.runtime`` (no TensorFlow), so ``tumorscope predict`` starts fast.
"""

from __future__ import annotations

import functools
import glob
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2

from tumorscope import DISCLAIMER
from tumorscope.records import RecordWriter
from tumorscope.runtime import Analysis, BackendOptions, Pipeline, resolve_model_dir
from tumorscope.runtime.errors import ErrorMessage, error_kind, one_line
from tumorscope.runtime.notices import warning_text
from tumorscope.runtime.preprocess import printable_name
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
OVERLAY_SUFFIX = ".overlay.png"
"""Name ending of the overlays ``--overlay-dir`` writes; folders and globs skip such files (earlier outputs)."""
_OVERLAY_MARK = b"tumorscope overlay"
"""PNG ``tEXt`` value that marks a file as tumorscope's own output (so it may be skipped or replaced)."""
EXPLAIN_SUFFIX = ".explain.png"
"""Name ending of the explanation heat maps ``--explain-dir`` writes."""
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
            files = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not _is_overlay(p))
            if not files:
                add(arg, f"{arg}: folder has no image files ({', '.join(IMAGE_SUFFIXES)}; "
                         f"tumorscope's own *{OVERLAY_SUFFIX} overlays are skipped)")
            for file in files:
                add(str(file))
        elif not path.exists() and _GLOB_CHARS & set(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if Path(m).is_file() and not _is_overlay(m))
            if not matches:
                add(arg, f"{arg}: no files match this pattern")
            for match in matches:
                add(match)
        else:
            add(arg)
    return out


def _is_overlay(path: str | Path) -> bool:
    """True for an overlay or explanation tumorscope wrote: named ``*.overlay.png`` / ``*.explain.png`` and
    carrying its PNG text mark (a user's own image with such a name is neither skipped nor overwritten)."""
    if not Path(path).name.lower().endswith((OVERLAY_SUFFIX, EXPLAIN_SUFFIX)):
        return False
    try:
        with open(path, "rb") as f:
            return _OVERLAY_MARK in f.read(128)
    except OSError:
        return False


def _marked_png(png: bytes) -> bytes:
    """``png`` with a ``tEXt`` chunk ``Software: tumorscope overlay`` after its IHDR (signature 8 + IHDR 25 bytes)."""
    payload = b"Software\0" + _OVERLAY_MARK
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    return png[:33] + chunk + png[33:]


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


def _overlay_path(overlay_dir: Path, name: str, used: set[Path], suffix: str = OVERLAY_SUFFIX) -> Path:
    """``<stem>.overlay.png`` in ``overlay_dir``; ``<stem>-2.overlay.png``... when a stem repeats in the batch
    or the name is taken by an input (``used`` holds the inputs' resolved paths) or by a file tumorscope did not
    write: only its own earlier outputs are replaced."""
    stem = Path(name).stem or "input"
    path, n = overlay_dir / f"{stem}{suffix}", 1
    while path.resolve() in used or (path.exists() and not _is_overlay(path)):  # never replace a user's file
        n += 1
        path = overlay_dir / f"{stem}-{n}{suffix}"
    used.add(path.resolve())
    return path


@functools.cache
def _umask() -> int:
    """The process umask (read once: os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_overlay(analysis: Analysis, path: Path, explanation: bool = False) -> str | None:
    """Write the overlay PNG atomically (temp file in the same folder, then ``os.replace``); one-line error or None.

    ``explanation=True`` writes the explanation heat map (``Analysis.explanation_image``) instead.
    """
    shown = printable_name(str(path))
    try:
        picture = analysis.explanation_image() if explanation else analysis.overlay()
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    except (cv2.error, ValueError) as exc:
        return f"{shown}: cannot write overlay ({one_line(exc, 200)})"
    if not ok:
        return f"{shown}: cannot encode the overlay as PNG"
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tumorscope-", suffix=".tmp", delete=False) as f:
            tmp = Path(f.name)
            f.write(_marked_png(encoded.tobytes()))
        tmp.chmod(0o666 & ~_umask())  # mkstemp's 0600 -> what a plain open() would give
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        return f"{shown}: cannot write overlay ({exc.strerror or exc}); check that the folder is writable"
    return None


def _analyze_or_exception(pipeline: Pipeline, path: str) -> Analysis | Exception:
    """``pipeline.analyze_path(path)``, or the exception it raised (so a worker thread hands it back)."""
    try:
        return pipeline.analyze_path(path)
    except Exception as exc:  # noqa: BLE001 - re-raised by predict_rows inside its per-input catch-all
        return exc


def predict_rows(
    inputs: list[tuple[str, str | None]], pipeline: Pipeline | PipelineRunner, overlay_dir: str | Path | None = None,
    explain_dir: str | Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Analyze each input and yield its ``Analysis.to_dict()`` row, in order.

    Args:
        inputs: ``expand_inputs`` output.
        pipeline: the loaded models; a ``PipelineRunner`` analyses several inputs at once (same rows, in order).
        overlay_dir: when given, each successful input also gets ``<stem>.overlay.png`` there and its row
            an ``overlay`` key (the file path, or None when the input failed).
        explain_dir: likewise ``<stem>.explain.png`` (where the classifier looked) and an ``explanation`` key.

    Yields:
        One row per input; failures have ``error`` set and nulls elsewhere.
    """
    out_dir = Path(overlay_dir) if overlay_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    explain_out = Path(explain_dir) if explain_dir is not None else None
    if explain_out is not None:
        explain_out.mkdir(parents=True, exist_ok=True)
    used: set[Path] = {Path(path).resolve() for path, _ in inputs}  # overlays never take an input's name
    runner = pipeline if isinstance(pipeline, PipelineRunner) else PipelineRunner([pipeline])
    analyses = runner.map(_analyze_or_exception, (path for path, error in inputs if not error))
    for path, error in inputs:
        try:
            analysis = Analysis(name=path, error=error, backend=pipeline.backend) if error else next(analyses)
            if isinstance(analysis, Exception):  # raised in a worker: this input's error only
                raise analysis
            row = analysis.to_dict()
            if out_dir is not None:
                row["overlay"] = None
                if analysis.ok:
                    target = _overlay_path(out_dir, path, used)
                    row["error"] = _write_overlay(analysis, target)
                    row["overlay"] = None if row["error"] else str(target)
            if explain_out is not None:
                row["explanation"] = None
                if analysis.ok:
                    target = _overlay_path(explain_out, path, used, EXPLAIN_SUFFIX)
                    problem = _write_overlay(analysis, target, explanation=True)
                    row["error"] = row["error"] or problem
                    row["explanation"] = None if problem else str(target)
        except Exception as exc:  # noqa: BLE001 - any failure, MemoryError included, is this input's error only
            row = _failed_row(path, exc, pipeline, out_dir is not None)
            if explain_out is not None:
                row["explanation"] = None
        yield row


def _failed_row(path: str, exc: BaseException, pipeline: Pipeline, with_overlay: bool) -> dict[str, Any]:
    """The row of an input whose analysis raised: nulls and a one-line ``error`` naming the exception."""
    detail = one_line(str(exc), 200) or "no details"
    kind = "out of memory" if isinstance(exc, MemoryError) else f"unexpected {type(exc).__name__}"
    error = ErrorMessage(f"{printable_name(path)}: {kind} ({detail}); the other inputs went on", error_kind(exc))
    row = Analysis(name=path, error=error, backend=pipeline.backend).to_dict()
    return row | {"overlay": None} if with_overlay else row


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
    """A plain-text table (path, label, confidence, tumor area %, input check, error) with the warnings spelled
    out below it, a summary and the disclaimer."""
    header = ("path", "label", "confidence", "tumor %", "input", "error")
    body = [
        (
            printable_name(row["path"]),
            row["label"] or "-",
            _cell(row["confidence"], ".3f"),
            _cell(row["tumor_area_pct"], ".2f"),
            _input_cell(row.get("input_check")),
            row["error"] or "",
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in [header, *body]]
    failed = sum(row["error"] is not None for row in rows)
    summary = f"{len(rows)} input(s), {failed} failed" if failed else f"{len(rows)} input(s), all analysed"
    notes = [f"WARNING {printable_name(row['path'])}: {warning_text(code)}"
             for row in rows for code in row.get("warnings") or ()]
    return "\n".join([*(line.rstrip() for line in lines), *([""] + notes if notes else []), "", summary, DISCLAIMER])


def _input_cell(check: dict[str, Any] | None) -> str:
    """The table's input-check cell: ``ok``, ``NOT A BRAIN MRI``, ``unchecked`` (model without it) or ``-``."""
    if not check:
        return "-"
    return {"ok": "ok", "out_of_distribution": "NOT A BRAIN MRI"}.get(check["status"], "unchecked")
