"""The app's one pipeline, loaded once and safe to call from concurrent request threads."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.runtime import Analysis, BackendOptions, Pipeline, resolve_model_dir

__all__ = ["Analyzer", "AnalyzerBusy", "default_concurrency"]

SLOT_WAIT_S = 30.0
"""How long a request waits for an analysis slot before it is answered 503 (busy)."""


def default_concurrency() -> int:
    """Analyses one process runs at once by default: the CPU cores it may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _without_paths(value: Any) -> Any:
    """``value`` (nested dicts/lists) with every absolute path string cut to its file name."""
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_paths(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return Path(value).name
    return value


class AnalyzerBusy(RuntimeError):
    """Every analysis slot stayed taken for ``SLOT_WAIT_S`` seconds."""


class Analyzer:
    """Wraps a ``Pipeline`` for a multi-threaded server.

    The pipeline is thread-safe: ONNX Runtime runs requests' models in parallel, LiteRT one at a time
    (``Pipeline.serial_models``) while other requests decode and render. One warm-up analysis at start keeps
    backend initialization out of the first request's time.

    At most ``max_concurrent`` requests decode, analyse and render at once (``slot()``), so N parallel
    uploads cannot multiply peak memory by N; the others wait for a slot.
    """

    def __init__(self, model_dir: str | Path | None = None, backend: str = "onnx", threads: int | None = None,
                 max_concurrent: int | None = None):
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.model_dir = resolve_model_dir(model_dir)
        self.backend = backend
        self.max_concurrent = max_concurrent or default_concurrency()
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        self._pipeline = Pipeline.from_model_dir(self.model_dir, backend=backend,
                                                 options=BackendOptions(threads=threads))
        self._warm_up()

    def _warm_up(self) -> None:
        """Run both models once on a blank image; RuntimeError if they cannot (fail at start, not per request)."""
        size = self._pipeline.classifier.spec.input_size
        analysis = self._pipeline.analyze(np.zeros((*size, 3), np.uint8), "warm-up image")
        if not analysis.ok:
            self._pipeline.close()
            raise RuntimeError(f"the models loaded but cannot run: {analysis.error}")

    @contextlib.contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[None]:
        """Hold one of the ``max_concurrent`` analysis slots; AnalyzerBusy when none frees up in ``timeout``
        seconds (None: ``SLOT_WAIT_S``)."""
        timeout = SLOT_WAIT_S if timeout is None else timeout
        if not self._slots.acquire(timeout=timeout):
            raise AnalyzerBusy(f"all {self.max_concurrent} analysis slots stayed busy for {timeout:g} s")
        try:
            yield
        finally:
            self._slots.release()

    def analyze(self, data: bytes, name: str) -> Analysis:
        """Classify and segment one encoded image; decode and model errors come back in ``Analysis.error``."""
        return self._pipeline.analyze_bytes(data, name)

    def describe(self) -> dict[str, Any]:
        """Loaded models and backend, for ``/healthz``: file names only, never the server's paths."""
        return _without_paths(self._pipeline.describe()) | {"max_concurrent": self.max_concurrent}

    def close(self) -> None:
        """Release both models."""
        self._pipeline.close()
