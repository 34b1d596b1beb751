"""End-to-end throughput of both models over real files, next to the models' own latency, per thread count.

For each backend and each thread count T of the sweep, in one process and on the same images:

- ``classifier_p50_ms`` / ``segmenter_p50_ms``: batch-1 latency of each int8 model alone with T intra-op
  threads (preprocessed input, warm-up first, slowest 5% dropped), as in the per-format benchmark;
- ``model_bound_ips = 1000 / (classifier_p50_ms + segmenter_p50_ms)``: the rate that running the two models
  back to back allows, with no decoding, preprocessing or post-processing at all;
- ``sequential_ips``: ``Pipeline.analyze_path`` image after image with T threads (the pre-#14 ``predict``);
- ``pipeline_ips``: ``PipelineRunner`` with ``plan_workers(threads=None, cores=T)`` workers (what ``predict``
  runs on a T-core machine), file to ``Analysis``, end to end;
- ``identical``: every pipelined result equals the sequential one (all ``to_dict`` values except timings,
  and the mask bit for bit).

For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tumorscope import DISCLAIMER
from tumorscope.bench.worker import latency_stats
from tumorscope.runtime.backends import BackendOptions, open_backend
from tumorscope.runtime.pipeline import BACKENDS, Pipeline, model_files
from tumorscope.runtime.preprocess import load_image, preprocess
from tumorscope.runtime.results import Analysis
from tumorscope.runtime.runner import PipelineRunner, plan_workers

__all__ = ["PIPELINE_FIELDS", "parse_backends", "pipeline_benchmark", "pipeline_markdown", "pipeline_report",
           "short_header", "write_pipeline_report"]

PIPELINE_FIELDS = (
    "backend", "threads", "workers", "worker_threads", "n_images", "classifier_p50_ms", "segmenter_p50_ms",
    "model_bound_ips", "sequential_ips", "pipeline_ips", "pipeline_vs_model_bound", "identical", "error",
)
"""Keys of every pipeline benchmark row, in column order."""


def _model_p50(path: Path, threads: int, images: list[np.ndarray], runs: int, warmup: int) -> float:
    """Batch-1 p50 latency (ms) of one artifact on preprocessed inputs."""
    model = open_backend(path, BackendOptions(threads=threads))
    try:
        inputs = [preprocess(i, model.spec.input_size, model.spec.scale)[None] for i in images]
        for i in range(warmup):
            model.run(inputs[i % len(inputs)])
        timings = []
        for i in range(runs):
            start = time.perf_counter()
            model.run(inputs[i % len(inputs)])
            timings.append(time.perf_counter() - start)
    finally:
        model.close()
    return latency_stats(timings)["latency_ms_p50"]


def _fingerprint(analysis: Analysis) -> tuple:
    """Everything a result says except timings; the mask as a digest."""
    row = analysis.to_dict()
    row.pop("timings_ms", None)
    mask = analysis.segmentation.mask if analysis.segmentation is not None else None
    if mask is None:
        return repr(sorted(row.items())), None
    digest = hashlib.sha1(np.packbits(mask).tobytes() + str(mask.shape).encode()).hexdigest()
    return repr(sorted(row.items())), digest


def _rate(analyses: Iterable[Analysis], count: int) -> tuple[float, list[tuple]]:
    start = time.perf_counter()
    prints = [_fingerprint(a) for a in analyses]
    seconds = time.perf_counter() - start
    if len(prints) != count:
        raise RuntimeError(f"expected {count} results, got {len(prints)}")
    return count / seconds, prints


def pipeline_benchmark(
    model_dir: str | Path,
    paths: list[str],
    backends: Iterable[str] = BACKENDS,
    threads: Iterable[int] = (2,),
    runs: int = 50,
    warmup: int = 5,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Measure model latency, sequential and pipelined throughput for every backend and thread count.

    Args:
        model_dir: folder with ``classifier.int8.*`` and ``segmenter.int8.*``.
        paths: image files (all are analysed by both runs; read once before timing so the OS cache is warm).
        backends: ``onnx`` and/or ``tflite``.
        threads: the sweep: thread counts T (cores given to the run), each >= 1.
        runs / warmup: timed and untimed batch-1 runs of each model.
        log: called with one progress line per step.

    Returns:
        One dict per (backend, T) with the keys ``PIPELINE_FIELDS``; a failing backend gets ``error`` set.
    """
    if not paths:
        raise ValueError("pipeline benchmark needs at least one image")
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got {runs}, {warmup}")
    threads = list(threads)
    if not threads or min(threads) < 1:
        raise ValueError(f"threads must be one or more counts >= 1, got {threads}")
    log = log or (lambda _line: None)
    for path in paths:  # warm the file cache: both runs then read from memory
        Path(path).read_bytes()
    sample = [load_image(p) for p in paths[: min(len(paths), 16)]]
    rows = []
    for backend in backends:
        files = model_files(model_dir, backend)
        for count in threads:
            row = dict.fromkeys(PIPELINE_FIELDS) | {"backend": backend, "threads": count, "n_images": len(paths)}
            log(f"pipeline bench: {backend}, {count} thread(s), {len(paths)} images")
            try:
                row |= _measure(model_dir, backend, files, paths, count, sample, runs, warmup)
            except (FileNotFoundError, ValueError, RuntimeError, ImportError, OSError) as exc:
                row["error"] = " ".join(str(exc).split())
            rows.append(row)
    return rows


def _measure(model_dir, backend: str, files: dict[str, Path], paths: list[str], count: int,
             sample: list[np.ndarray], runs: int, warmup: int) -> dict:
    classifier = _model_p50(files["classifier"], count, sample, runs, warmup)
    segmenter = _model_p50(files["segmenter"], count, sample, runs, warmup)
    with Pipeline.from_model_dir(model_dir, backend, BackendOptions(threads=count)) as pipeline:
        pipeline.analyze_path(paths[0])  # warm-up
        sequential, expected = _rate((pipeline.analyze_path(p) for p in paths), len(paths))
    workers, worker_threads = plan_workers(cores=count)
    with PipelineRunner.from_model_dir(model_dir, backend, workers, worker_threads) as runner:
        list(runner.analyze_paths(paths[: runner.workers]))  # warm-up
        pipelined, got = _rate(runner.analyze_paths(paths), len(paths))
    bound = 1000.0 / (classifier + segmenter)
    return {
        "workers": workers, "worker_threads": worker_threads, "classifier_p50_ms": round(classifier, 3),
        "segmenter_p50_ms": round(segmenter, 3), "model_bound_ips": round(bound, 2),
        "sequential_ips": round(sequential, 2), "pipeline_ips": round(pipelined, 2),
        "pipeline_vs_model_bound": round(pipelined / bound, 3), "identical": got == expected,
    }


def pipeline_markdown(rows: list[dict], header: dict | None = None) -> str:
    """A markdown table of ``pipeline_benchmark`` rows, with a one-line machine header and the disclaimer."""
    head = ("Backend", "Threads", "Workers x threads", "Classifier p50 ms", "Segmenter p50 ms", "Model-bound img/s",
            "Sequential img/s", "Pipeline img/s", "Pipeline / model-bound", "Identical", "Error")
    lines = []
    if header:
        lines += [" · ".join(f"{k}: {v}" for k, v in header.items()), ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(value, fmt="{}"):
        return "-" if value is None else fmt.format(value)

    for r in rows:
        lines.append("| " + " | ".join((
            r["backend"], str(r["threads"]),
            "-" if r["workers"] is None else f"{r['workers']} x {r['worker_threads']}",
            cell(r["classifier_p50_ms"], "{:.2f}"), cell(r["segmenter_p50_ms"], "{:.2f}"),
            cell(r["model_bound_ips"], "{:.1f}"), cell(r["sequential_ips"], "{:.1f}"),
            cell(r["pipeline_ips"], "{:.1f}"),
            cell(r["pipeline_vs_model_bound"], "{:.2f}x"), cell(r["identical"]), r["error"] or "",
        )) + " |")
    return "\n".join([*lines, "", DISCLAIMER])


def parse_backends(formats: str | Iterable[str] | None) -> list[str]:
    """``"onnx,tflite"`` (or ``onnx-int8`` / ``tflite-int8``, the int8 artifacts a pipeline loads) -> backends.

    Raises:
        ValueError: an unknown name (the message lists the accepted ones).
    """
    names = BACKENDS if formats is None else [n.strip() for n in (formats.split(",") if isinstance(formats, str)
                                                                  else formats) if n.strip()]
    backends = [n.removesuffix("-int8") for n in names]
    unknown = [n for n, b in zip(names, backends, strict=True) if b not in BACKENDS]
    if unknown or not backends:
        raise ValueError(f"pipeline bench runs the int8 models of {', '.join(BACKENDS)} "
                         f"(or {', '.join(b + '-int8' for b in BACKENDS)}); got {unknown or 'nothing'}")
    return list(dict.fromkeys(backends))


def pipeline_report(
    model_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    formats: str | Iterable[str] | None = None,
    threads: Iterable[int] | None = None,
    runs: int = 50,
    warmup: int = 5,
    log: Callable[[str], None] | None = None,
) -> dict:
    """``pipeline_benchmark`` on the images of a committed classification split, with a machine header.

    Args:
        threads: the sweep (default: the usable cores). Other arguments as ``tumorscope bench``.

    Returns:
        ``{"header": {...}, "rows": [...]}``; the header holds the settings, machine and library versions.
    """
    import tumorscope
    from tumorscope.assess.items import pick_evenly
    from tumorscope.bench.machine import library_versions, machine_info
    from tumorscope.datasets import classification_items, resolve_data_root
    from tumorscope.runtime.pipeline import resolve_model_dir

    machine = machine_info()
    sweep = list(threads) if threads else [machine["usable_cores"] or 1]
    folder = resolve_model_dir(model_dir)
    items = pick_evenly(classification_items(resolve_data_root(data_root), split), limit)
    rows = pipeline_benchmark(folder, [str(i.image) for i in items], parse_backends(formats), sweep, runs, warmup, log)
    header = {
        "task": "pipeline", "split": split, "n_images": len(items), "threads": sweep, "runs": runs, "warmup": warmup,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model_dir": str(folder), "machine": machine, "versions": library_versions(),
        "tumorscope": tumorscope.__version__, "disclaimer": DISCLAIMER,
    }
    return {"header": header, "rows": rows}


def write_pipeline_report(report: dict, json_path: str | Path | None = None, csv_path: str | Path | None = None,
                          markdown_path: str | Path | None = None) -> list[Path]:
    """Write the report as JSON, CSV (one row per backend and thread count) and/or markdown; the paths written."""
    written = []
    if json_path:
        written.append(_write(json_path, json.dumps(report, indent=2) + "\n"))
    if csv_path:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=PIPELINE_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(report["rows"])
        written.append(_write(csv_path, buffer.getvalue()))
    if markdown_path:
        written.append(_write(markdown_path, pipeline_markdown(report["rows"], short_header(report["header"])) + "\n"))
    return written


def short_header(header: dict) -> dict:
    machine = header["machine"]
    return {"cpu": machine.get("cpu"), "physical cores": machine.get("physical_cores"),
            "usable cores": machine.get("usable_cores"), "images": f"{header['n_images']} ({header['split']})",
            "runs": header["runs"], "date": header["date"], "onnxruntime": header["versions"].get("onnxruntime"),
            "ai-edge-litert": header["versions"].get("ai-edge-litert")}


def _write(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
