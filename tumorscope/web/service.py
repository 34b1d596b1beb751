"""The app's one pipeline, loaded once and safe to call from concurrent request threads."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.runtime import Analysis, BackendOptions, Pipeline, resolve_model_dir

__all__ = ["Analyzer"]


class Analyzer:
    """Wraps a ``Pipeline`` for a multi-threaded server.

    ONNX Runtime sessions are thread-safe and run requests in parallel; a LiteRT interpreter is not
    (it owns its input/output tensors), so ``tflite`` calls are serialized by a lock. One warm-up
    analysis at start keeps backend initialization out of the first request's time.
    """

    def __init__(self, model_dir: str | Path | None = None, backend: str = "onnx", threads: int | None = None):
        self.model_dir = resolve_model_dir(model_dir)
        self.backend = backend
        self._pipeline = Pipeline.from_model_dir(self.model_dir, backend=backend,
                                                 options=BackendOptions(threads=threads))
        self._guard = threading.Lock() if backend == "tflite" else contextlib.nullcontext()
        self._warm_up()

    def _warm_up(self) -> None:
        """Run both models once on a blank image; RuntimeError if they cannot (fail at start, not per request)."""
        size = self._pipeline.classifier.spec.input_size
        analysis = self._pipeline.analyze(np.zeros((*size, 3), np.uint8), "warm-up image")
        if not analysis.ok:
            self._pipeline.close()
            raise RuntimeError(f"the models loaded but cannot run: {analysis.error}")

    def analyze(self, data: bytes, name: str) -> Analysis:
        """Classify and segment one encoded image; decode and model errors come back in ``Analysis.error``."""
        with self._guard:
            return self._pipeline.analyze_bytes(data, name)

    def describe(self) -> dict[str, Any]:
        """Loaded models and backend, for ``/healthz``."""
        return self._pipeline.describe()

    def close(self) -> None:
        """Release both models."""
        with self._guard:
            self._pipeline.close()
