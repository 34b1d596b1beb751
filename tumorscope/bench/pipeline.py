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

The three measurements alternate in up to ``ROUNDS`` rounds over chunks of the images, so a machine whose
load changes during the run (other jobs, thermal limits) disturbs them alike and the ratio
``pipeline_vs_model_bound`` stays meaningful even when the absolute numbers are not.

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
ROUNDS = 5
"""The measurement interleaves up to this many rounds of (model latency, sequential chunk, pipelined chunk)."""
MIN_ROUND_IMAGES = 20
"""Fewest images per round (a pipelined chunk starts and drains its workers once)."""


class _Latency:
    """One artifact opened with ``threads``; ``time(k)`` appends k batch-1 timings (s) on preprocessed inputs."""

    def __init__(self, path: Path, threads: int, images: list[np.ndarray], warmup: int):
        self.model = open_backend(path, BackendOptions(threads=threads))
        self.inputs = [preprocess(i, self.model.spec.input_size, self.model.spec.scale)[None] for i in images]
        self.seconds: list[float] = []
        for i in range(warmup):
            self.model.run(self.inputs[i % len(self.inputs)])

    def time(self, count: int) -> None:
        for _ in range(count):
            start = time.perf_counter()
            self.model.run(self.inputs[len(self.seconds) % len(self.inputs)])
            self.seconds.append(time.perf_counter() - start)

    def p50(self) -> float:
        return latency_stats(self.seconds)["latency_ms_p50"]


def _fingerprint(analysis: Analysis) -> tuple:
    """Everything a result says except timings; the mask as a digest."""
    row = analysis.to_dict()
    row.pop("timings_ms", None)
    mask = analysis.segmentation.mask if analysis.segmentation is not None else None
    if mask is None:
        return repr(sorted(row.items())), None
    digest = hashlib.sha1(np.packbits(mask).tobytes() + str(mask.shape).encode()).hexdigest()
    return repr(sorted(row.items())), digest


def _timed(analyses: Iterable[Analysis]) -> tuple[float, list[tuple]]:
    start = time.perf_counter()
    prints = [_fingerprint(a) for a in analyses]
    return time.perf_counter() - start, prints


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
    """Interleaved rounds (model latency, sequential chunk, pipelined chunk), so that a machine whose load
    changes during the run disturbs all three alike and their ratio stays meaningful."""
    rounds = max(1, min(ROUNDS, len(paths) // MIN_ROUND_IMAGES, runs))
    chunks = [list(c) for c in np.array_split(np.array(paths, dtype=object), rounds)]
    workers, worker_threads = plan_workers(cores=count)
    classifier = _Latency(files["classifier"], count, sample, warmup)
    segmenter = _Latency(files["segmenter"], count, sample, warmup)
    try:
        with Pipeline.from_model_dir(model_dir, backend, BackendOptions(threads=count)) as pipeline, \
                PipelineRunner.from_model_dir(model_dir, backend, workers, worker_threads) as runner:
            pipeline.analyze_path(paths[0])  # warm-up
            list(runner.analyze_paths(paths[: runner.workers]))
            seconds = {"sequential": 0.0, "pipeline": 0.0}
            expected, got = [], []
            for index, chunk in enumerate(chunks):
                share = runs // rounds + (index < runs % rounds)
                classifier.time(share)
                segmenter.time(share)
                elapsed, prints = _timed(pipeline.analyze_path(p) for p in chunk)
                seconds["sequential"] += elapsed
                expected += prints
                elapsed, prints = _timed(runner.analyze_paths(chunk))
                seconds["pipeline"] += elapsed
                got += prints
    finally:
        classifier.model.close()
        segmenter.model.close()
    if len(got) != len(paths) or len(expected) != len(paths):
        raise RuntimeError(f"expected {len(paths)} results, got {len(expected)} and {len(got)}")
    cls_ms, seg_ms = classifier.p50(), segmenter.p50()
    bound = 1000.0 / (cls_ms + seg_ms)
    sequential, pipelined = len(paths) / seconds["sequential"], len(paths) / seconds["pipeline"]
    return {
        "workers": workers, "worker_threads": worker_threads, "classifier_p50_ms": round(cls_ms, 3),
        "segmenter_p50_ms": round(seg_ms, 3), "model_bound_ips": round(bound, 3),
        "sequential_ips": round(sequential, 3), "pipeline_ips": round(pipelined, 3),
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
