"""Score an image archive on a Ray cluster: the same ``Pipeline`` in Ray Data ``map_batches``, the same records.

Each Ray actor opens both int8 models once and runs ``tumorscope.predict.predict_rows`` (so every record is
exactly what ``tumorscope predict --json`` gives, per-input errors included) on batches of file paths; the
driver streams the records into one ``.jsonl`` / ``.csv`` file as batches complete (``--resume`` works as
for ``predict --output``). The model files travel from the driver to the actors through Ray, so only the
images need to be readable at the same path on every node (a shared filesystem).

Needs ``pip install "tumorscope[ray]"``. For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tumorscope import DISCLAIMER
from tumorscope.records import RecordWriter

__all__ = ["DEFAULT_BATCH", "RayScorer", "model_payload", "ray_predict"]

DEFAULT_BATCH = 16
"""Paths per ``map_batches`` call: large enough to amortize Ray's per-batch overhead, small enough to stream."""


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is a separate part of the package
    except ImportError as exc:
        raise ImportError(f"Ray Data is not installed ({exc}); run `pip install \"tumorscope[ray]\"`") from exc
    return ray


def model_payload(model_dir: str | Path, backend: str) -> dict[str, bytes]:
    """The two int8 artifacts of ``backend`` and their ``.spec.json`` sidecars: ``{file name: bytes}``.

    Raises:
        FileNotFoundError: a model or sidecar is missing.
    """
    from tumorscope.runtime.pipeline import model_files
    from tumorscope.runtime.spec import spec_path_for

    payload = {}
    for path in model_files(model_dir, backend).values():
        for file in (Path(path), spec_path_for(path)):
            if not file.is_file():
                raise FileNotFoundError(f"{file}: missing; ray_predict needs both int8 models with their .spec.json")
            payload[file.name] = file.read_bytes()
    return payload


class RayScorer:
    """A Ray Data actor: writes the shipped model files to a private temp folder, opens them once, then maps
    ``{"path": (B,) str}`` batches to ``{"path": (B,) str, "record": (B,) JSON str}``."""

    def __init__(self, payload: dict[str, bytes], backend: str, threads: int | None,
                 providers: tuple[str, ...] | None = None):
        from tumorscope.predict import open_pipeline

        if not isinstance(payload, dict):  # an ObjectRef: the files sit once in the object store
            payload = _import_ray().get(payload)
        self._models = tempfile.TemporaryDirectory(prefix="tumorscope-ray-")
        for name, data in payload.items():
            (Path(self._models.name) / name).write_bytes(data)
        self.pipeline = open_pipeline(self._models.name, backend, threads, providers)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from tumorscope.predict import predict_rows

        paths = [str(p) for p in batch["path"]]
        rows = predict_rows([(p, None) for p in paths], self.pipeline)
        return {"path": paths, "record": [json.dumps(row, ensure_ascii=False) for row in rows]}


def ray_predict(
    inputs: list[tuple[str, str | None]],
    output: str | Path,
    model_dir: str | Path | None = None,
    backend: str = "onnx",
    workers: int = 2,
    threads: int = 1,
    batch_size: int = DEFAULT_BATCH,
    resume: bool = False,
    providers: tuple[str, ...] | None = None,
    address: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Analyse ``inputs`` on Ray with ``workers`` actors of ``threads`` CPUs each; stream records to ``output``.

    Args:
        inputs: ``tumorscope.predict.expand_inputs`` output (a shard of it is fine).
        output: ``.jsonl`` or ``.csv`` result file (``RecordWriter``); records arrive in completion order.
        model_dir: folder with the int8 models (resolved as for ``predict``); read on the driver only.
        backend: ``onnx`` or ``tflite``. threads: intra-op threads and Ray CPUs per actor.
        batch_size: paths per ``map_batches`` call. resume: skip inputs already recorded in ``output``.
        address: Ray cluster address (``auto`` joins a running cluster); None starts or reuses a local Ray.
        log: called with progress lines.

    Returns:
        ``{"output", "inputs", "written", "skipped", "failed", "seconds", "images_per_s", "workers", "disclaimer"}``.

    Raises:
        ImportError: Ray Data missing. FileNotFoundError: models missing. FileExistsError, ValueError: as
        ``RecordWriter``.
    """
    from tumorscope.runtime import Analysis, resolve_model_dir

    if workers < 1 or threads < 1 or batch_size < 1:
        raise ValueError(f"workers, threads and batch_size must be >= 1, got {workers}, {threads}, {batch_size}")
    ray = _import_ray()
    log = log or (lambda _line: None)
    payload = model_payload(resolve_model_dir(model_dir), backend)
    start = time.perf_counter()
    failed = 0
    with RecordWriter(output, resume=resume) as writer:
        todo = [(p, e) for p, e in inputs if p not in writer.recorded]
        for path, error in todo:  # arguments that name no file: recorded by the driver, as predict does
            if error:
                writer.write(Analysis(name=path, error=error, backend=backend).to_dict())
                failed += 1
        paths = [p for p, e in todo if not e]
        if paths:
            if not ray.is_initialized():
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         **({} if address else {"num_cpus": workers * threads}))
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = context.print_on_execution_start = False
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            log(f"ray: {len(paths)} images, {workers} actor(s) x {threads} thread(s), batches of {batch_size}")
            dataset = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=max(1, min(
                len(paths), workers * 4)))
            scored = dataset.map_batches(
                RayScorer, fn_constructor_args=(ray.put(payload), backend, threads, providers),
                batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=threads,
            )
            for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
                for record in batch["record"]:
                    row = json.loads(record)
                    writer.write(row)
                    failed += row["error"] is not None
        written = writer.written
    seconds = time.perf_counter() - start
    return {"output": str(output), "inputs": len(inputs), "written": written, "skipped": len(inputs) - len(todo),
            "failed": failed, "seconds": round(seconds, 3), "workers": workers,
            "images_per_s": round(written / seconds, 2) if written and seconds > 0 else None,
            "disclaimer": DISCLAIMER}
