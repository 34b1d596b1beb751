"""Benchmark one model artifact in its own process, so import costs and peak memory are its own.

    python -m tumorscope.bench.worker --model models/classifier.int8.onnx --items items.json --out DIR \
        [--runs 50] [--warmup 5] [--threads 2] [--batch 16]

``items.json`` is ``{"images": [path, ...]}`` (the parent resolves the split, so every format sees the same
images). The worker writes ``DIR/result.json`` (timings, peak RSS, the spec's labels and threshold, kept
image indices, per-image errors; or ``{"ok": false, "error": ...}``) and ``DIR/predictions.npy``: the model
outputs of every readable image, ``(N, C)`` probabilities (classifier) or ``(N, h, w)`` mask probabilities
at the model resolution (segmenter), float32. Metrics and parity are computed by the parent.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from tumorscope.assess.items import iter_batches
from tumorscope.assess.models import open_model
from tumorscope.runtime.backends import BackendOptions, InferenceBackend
from tumorscope.runtime.errors import one_line
from tumorscope.runtime.inputcheck import STATUS_OK, InputCheckModel, image_statistics
from tumorscope.runtime.postprocess import probability_map

__all__ = ["CLIP_FRACTION", "run_worker", "latency_stats", "peak_rss_mb", "main"]

CLIP_FRACTION = 0.05
"""Slowest fraction of the batch-1 timings dropped as outliers before the percentiles."""
RESULT_FILE = "result.json"
PREDICTIONS_FILE = "predictions.npy"
STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this program image; ``ru_maxrss``
    would carry the parent's peak across fork + exec. Elsewhere ``ru_maxrss`` (KiB; bytes on macOS).
    """
    try:
        for line in STATUS.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def latency_stats(seconds: list[float], clip: float = CLIP_FRACTION) -> dict[str, float]:
    """p50/p90 in milliseconds after dropping the slowest ``clip`` fraction of the timings.

    Args:
        seconds: ``(R,)`` wall times of single runs, R >= 1.

    Returns:
        ``{"latency_ms_p50", "latency_ms_p90", "latency_runs"}`` (runs kept after clipping).
    """
    if not seconds:
        raise ValueError("no latency timings to summarize; --runs must be >= 1")
    kept = np.sort(np.asarray(seconds, dtype=np.float64))[: max(1, int(np.ceil(len(seconds) * (1 - clip))))] * 1e3
    return {"latency_ms_p50": float(np.percentile(kept, 50)), "latency_ms_p90": float(np.percentile(kept, 90)),
            "latency_runs": int(len(kept))}


def _timing_batch(paths: list[str], model: InferenceBackend, batch: int) -> np.ndarray:
    """``(batch, H, W, 3)`` float32: the first readable images, repeated when the split is smaller."""
    first = paths[: batch * 2]
    inputs = next(iter_batches(first, model.spec, max(1, len(first)))).inputs if first else None
    if inputs is None or not len(inputs):
        raise ValueError(f"none of the first {len(first)} images is readable; check --data")
    return np.resize(inputs, (batch, *inputs.shape[1:])).astype(np.float32)


def _time_model(model: InferenceBackend, images: np.ndarray, runs: int, warmup: int) -> dict:
    """First inference, batch-1 latency after warm-up, and throughput at ``len(images)``."""
    start = time.perf_counter()
    model.run(images[:1])
    out = {"first_inference_ms": (time.perf_counter() - start) * 1e3}
    for i in range(warmup):
        model.run(images[i % len(images)][None])
    timings = []
    for i in range(runs):
        start = time.perf_counter()
        model.run(images[i % len(images)][None])
        timings.append(time.perf_counter() - start)
    out |= latency_stats(timings)
    model.run(images)  # warm the larger batch shape
    calls = max(3, runs // 5)
    start = time.perf_counter()
    for _ in range(calls):
        model.run(images)
    out["throughput_ips"] = len(images) * calls / (time.perf_counter() - start)
    return out


def _predict(model: InferenceBackend, paths: list[str], batch: int,
             features: list | None = None) -> tuple[np.ndarray, list[int], list[dict]]:
    """Outputs of every readable image, streamed in chunks of ``batch`` so the split never sits in memory.

    ``features``: when a list and the model has a features output (input check), ``(features, image statistics)``
    of every chunk are appended to it.
    """
    outputs, kept, errors = [], [], []
    run_outputs = getattr(model, "run_outputs", None) if model.spec.features_name and features is not None else None
    for chunk in iter_batches(paths, model.spec, batch):
        errors += chunk.errors
        if chunk.indices and run_outputs is not None:
            named = run_outputs(chunk.inputs)
            features.append((named[model.spec.check_output], image_statistics(chunk.inputs)))
            output = np.asarray(named[model.spec.output_name], dtype=np.float32)
        elif chunk.indices:
            output = np.asarray(model.run(chunk.inputs), dtype=np.float32)
        if chunk.indices:
            outputs.append(probability_map(output) if model.spec.task == "segmenter" else output)
            kept += chunk.indices
    if not outputs:
        raise ValueError(f"no readable images among the {len(paths)} benchmark images; check --data")
    return np.concatenate(outputs), kept, errors


def _input_check_stats(model: InferenceBackend, images: np.ndarray, features: list[tuple[np.ndarray, np.ndarray]],
                       runs: int, latency_ms: float) -> dict:
    """The input check's batch-1 cost (p50 ms of its image statistics and scoring, share of the model's p50) and
    the share of the split it accepts.

    Empty for models without a fitted input check (segmenters, older exports).
    """
    check = InputCheckModel.from_spec(model.spec.input_check) if model.spec.features_name else None
    run_outputs = getattr(model, "run_outputs", None)
    if check is None or run_outputs is None or not features:
        return {}
    timings = []
    for i in range(runs):  # right after an inference, as in predict (the backend's threads are still awake)
        one = run_outputs(images[i % len(images)][None])[model.spec.check_output]
        start = time.perf_counter()
        check.check_inputs(one, images[i % len(images)][None])
        timings.append(time.perf_counter() - start)
    cost = latency_stats(timings)["latency_ms_p50"]
    results = check.check(np.concatenate([f for f, _ in features]), np.concatenate([s for _, s in features]))
    accepted = float(np.mean([r.status == STATUS_OK for r in results]))
    return {"input_check_ms_p50": cost, "input_check_share": cost / latency_ms, "input_check_accepted": accepted}


def _extra_outputs_cost(model: InferenceBackend, path: Path, images: np.ndarray, runs: int,
                        threads: int | None, rounds: int = 3) -> dict:
    """What an ONNX classifier's trust outputs (features, class maps, input-check features) cost: batch-1 p50 of
    the graph with every output and of the same graph pruned to its probabilities (``export.keep_outputs``),
    timed in alternating blocks of runs in this process (a warm-up run opens each block, so one session's
    spinning threads do not land in the other's timings); ``extra_outputs_share`` = full / pruned - 1.

    Empty for other models, or where ``onnx`` is not installed (runtime-only installs).
    """
    if path.suffix.lower() != ".onnx" or not model.spec.features_name:
        return {}
    try:
        import onnxruntime as ort

        from tumorscope.export.onnx_export import keep_outputs

        pruned = keep_outputs(path, [model.spec.output_name])
    except ImportError:
        return {}
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    sessions = {"full": ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]),
                "pruned": ort.InferenceSession(pruned, options, providers=["CPUExecutionProvider"])}
    name = sessions["full"].get_inputs()[0].name
    timings: dict[str, list[float]] = {"full": [], "pruned": []}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for key, session in sessions.items():
            session.run(None, {name: images[:1]})  # re-warm after the other graph ran
            for i in range(per_round):
                start = time.perf_counter()
                session.run(None, {name: images[i % len(images)][None]})
                timings[key].append(time.perf_counter() - start)
    full, bare = (latency_stats(timings[k])["latency_ms_p50"] for k in ("full", "pruned"))
    return {"extra_outputs_ms_p50": full - bare, "extra_outputs_share": full / bare - 1}


def run_worker(model_path: Path, paths: list[str], out_dir: Path, runs: int = 50, warmup: int = 5,
               threads: int | None = None, batch: int = 16) -> dict:
    """Load, time and run one artifact; write ``predictions.npy`` into ``out_dir`` and return the result.

    ``load_ms`` covers importing the backend and loading the model in this fresh process; ``peak_rss_mb``
    is read after the timing phase (model + one ``batch``), before the accuracy pass.
    """
    if runs < 1 or batch < 1 or warmup < 0:
        raise ValueError(f"runs and batch must be >= 1 and warmup >= 0, got {runs}, {batch}, {warmup}")
    start = time.perf_counter()
    model = open_model(model_path, BackendOptions(threads=threads))
    load_ms = (time.perf_counter() - start) * 1e3
    try:
        result = {"task": model.spec.task, "spec_format": model.spec.format, "labels": list(model.spec.labels),
                  "mask_threshold": model.spec.mask_threshold,
                  "min_region_pct": model.spec.min_region_pct, "input_size": list(model.spec.input_size),
                  "providers": list(getattr(model, "providers", ())), "load_ms": load_ms}
        timing_batch = _timing_batch(paths, model, batch)
        result |= _time_model(model, timing_batch, runs, warmup)
        result["peak_rss_mb"] = peak_rss_mb()
        features: list[np.ndarray] = []
        predictions, kept, errors = _predict(model, paths, batch, features)
        result |= _input_check_stats(model, timing_batch, features, runs, result["latency_ms_p50"])
        result |= _extra_outputs_cost(model, Path(model_path), timing_batch, runs, threads)
    finally:
        model.close()
    np.save(out_dir / PREDICTIONS_FILE, predictions)
    return {"ok": True, **result, "kept": kept, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; always writes ``result.json`` (``ok`` false with the error on failure)."""
    parser = argparse.ArgumentParser(prog="python -m tumorscope.bench.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--items", type=Path, required=True, help='JSON {"images": [path, ...]}')
    parser.add_argument("--out", type=Path, required=True, help="existing folder for result.json and predictions")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        paths = json.loads(args.items.read_text(encoding="utf-8"))["images"]
        result = run_worker(args.model, paths, args.out, args.runs, args.warmup, args.threads, args.batch)
    except Exception as exc:  # any failure becomes a recorded row, never a traceback
        result = {"ok": False, "error": one_line(exc)}
    (args.out / RESULT_FILE).write_text(json.dumps(result), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
