"""Pipelined scoring of many files: decode, inference and post-processing of different images overlap.

``PipelineRunner`` holds one ``Pipeline`` per worker thread. Each worker runs the whole per-image path
(``Pipeline.analyze_path``: decode, preprocess, classify, segment, measure), so its results are exactly
those of the sequential path; while one worker decodes or measures (OpenCV and numpy release the GIL),
another runs a model. At most ``max_in_flight`` images are decoded or held at once (a bounded window), and
results come back in input order.

Why workers and not a batch: on a few cores, N single-threaded model copies (one image each) use the cores
better than one N-threaded model, whose small int8 kernels do not split well across threads; and stacking
images into a batch was measured not to pay on CPU (see README "Scoring a large archive"). ``plan_workers``
picks the split from the machine's physical cores.

Example:
    >>> with PipelineRunner.from_model_dir("models", backend="onnx") as runner:
    ...     for analysis in runner.analyze_paths(["a.jpg", "b.jpg"]):
    ...         print(analysis.to_dict())

For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tumorscope.runtime.backends import BackendOptions
from tumorscope.runtime.pipeline import Pipeline
from tumorscope.runtime.results import Analysis

__all__ = ["MAX_AUTO_WORKERS", "PipelineRunner", "physical_cores", "plan_workers"]

MAX_AUTO_WORKERS = 8
"""Most worker threads chosen automatically (each holds its own copy of both models, ~40 MB for int8)."""
_SYSFS_CPU = Path("/sys/devices/system/cpu")


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads of one core counted once); at least 1.

    Linux: the ``core_id`` / ``physical_package_id`` topology of the CPUs in this process's affinity mask.
    Elsewhere, or when the topology cannot be read: the usable logical CPUs.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topology = _SYSFS_CPU / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            cores.add((package, (topology / "core_id").read_text().strip()))
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


def plan_workers(workers: int | None = None, threads: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """Worker threads and intra-op threads per model for a machine with ``cores`` physical cores.

    Default: one single-threaded worker per physical core, at most ``MAX_AUTO_WORKERS``, with the cores left
    over given to the workers as intra-op threads. ``workers`` or ``threads`` fix one side, the other is
    derived so that ``workers * threads`` stays within the cores (each at least 1).

    Returns:
        ``(workers, threads)``.

    Raises:
        ValueError: ``workers`` or ``threads`` below 1.
    """
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    cores = cores or physical_cores()
    if workers is None:
        workers = max(1, min(MAX_AUTO_WORKERS, cores // (threads or 1)))
    if threads is None:
        threads = max(1, cores // workers)
    return workers, threads


class PipelineRunner:
    """Analyze many files with one ``Pipeline`` per worker thread; results in input order.

    Args:
        pipelines: one loaded pipeline per worker (same models and backend); one pipeline runs in the
            calling thread, without threads.
        max_in_flight: most images submitted and not yet returned (default ``2 * len(pipelines)``); bounds
            the memory held by decoded images and masks.
    """

    def __init__(self, pipelines: list[Pipeline], max_in_flight: int | None = None):
        if not pipelines:
            raise ValueError("PipelineRunner needs at least one pipeline")
        self.pipelines = list(pipelines)
        self.backend = self.pipelines[0].backend
        self.max_in_flight = max(len(self.pipelines), max_in_flight or 2 * len(self.pipelines))

    @classmethod
    def from_model_dir(
        cls,
        model_dir: str | Path,
        backend: str = "onnx",
        workers: int | None = None,
        threads: int | None = None,
        providers: tuple[str, ...] | None = None,
        first: Pipeline | None = None,
    ) -> PipelineRunner:
        """Load ``workers`` pipelines (``plan_workers`` when None) of ``backend`` from ``model_dir``.

        Args:
            first: an already loaded pipeline to use as the first worker (its thread setting is kept); the
                runner owns it from here on (it is closed with the runner, or at once when loading fails).

        Raises:
            FileNotFoundError, ValueError, RuntimeError, ImportError: as ``Pipeline.from_model_dir``.
        """
        workers, threads = plan_workers(workers, threads)
        options = BackendOptions(threads=threads, providers=tuple(providers) if providers else None)
        pipelines = [first] if first is not None else []
        try:
            while len(pipelines) < workers:
                pipelines.append(Pipeline.from_model_dir(model_dir, backend=backend, options=options))
        except Exception:
            for pipeline in pipelines:
                pipeline.close()
            raise
        return cls(pipelines)

    @property
    def workers(self) -> int:
        """Number of worker pipelines."""
        return len(self.pipelines)

    def analyze_paths(self, paths: Iterable[str | Path]) -> Iterator[Analysis]:
        """Yield ``Pipeline.analyze_path`` of every path, in input order; never raises for a bad input.

        The paths are consumed lazily, at most ``max_in_flight`` ahead of the last yielded result.
        """
        return self.map(lambda pipeline, path: pipeline.analyze_path(path), paths)

    def map(self, work: Callable[[Pipeline, str | Path], Analysis], items: Iterable) -> Iterator[Analysis]:
        """Yield ``work(pipeline, item)`` for every item, in input order, with a worker's own pipeline."""
        if len(self.pipelines) == 1:
            pipeline = self.pipelines[0]
            return (work(pipeline, item) for item in items)
        return self._threaded(work, items)

    def _threaded(self, work: Callable, items: Iterable) -> Iterator[Analysis]:
        free: queue.SimpleQueue[Pipeline] = queue.SimpleQueue()
        for pipeline in self.pipelines:
            free.put(pipeline)
        local = threading.local()

        def claim() -> None:  # each worker thread takes one pipeline for its lifetime
            local.pipeline = free.get_nowait()

        def run(item):
            return work(local.pipeline, item)

        pending: deque[Future] = deque()
        executor = ThreadPoolExecutor(len(self.pipelines), "tumorscope-worker", initializer=claim)
        try:
            for item in items:
                if len(pending) >= self.max_in_flight:
                    yield pending.popleft().result()
                pending.append(executor.submit(run, item))
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Release every pipeline."""
        for pipeline in self.pipelines:
            pipeline.close()

    def __enter__(self) -> PipelineRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
