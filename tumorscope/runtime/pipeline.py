"""Both models on one input: decode, classify, segment, measure, with timings and per-input errors."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope import DISCLAIMER
from tumorscope.runtime.backends import BACKEND_SUFFIXES, BackendOptions
from tumorscope.runtime.base import as_rgb
from tumorscope.runtime.classifier import Classifier
from tumorscope.runtime.consistency import OutOfDistributionError, reconcile
from tumorscope.runtime.errors import ErrorMessage
from tumorscope.runtime.explain import explanation_from_map
from tumorscope.runtime.locate import MODELS_ENV, model_files, require_model_files, resolve_model_dir
from tumorscope.runtime.preprocess import decode_image, load_image, printable_name
from tumorscope.runtime.results import Analysis
from tumorscope.runtime.segmenter import Segmenter

__all__ = ["BACKENDS", "MODELS_ENV", "Pipeline", "SERIAL_BACKENDS", "model_files", "resolve_model_dir"]

BACKENDS = tuple(BACKEND_SUFFIXES.values())
"""Backend names: ``onnx`` and ``tflite``."""

_EXPECTED_ERRORS = (ValueError, TypeError, RuntimeError)
SERIAL_BACKENDS = frozenset({"tflite"})
"""Backends whose models must run one call at a time: a LiteRT interpreter owns its input and output tensors
(ONNX Runtime sessions are thread-safe and run concurrent calls in parallel)."""


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


class Pipeline:
    """Classifier + segmenter of one backend; safe to call from several threads.

    Decoding and post-processing always run in the calling thread; on a backend in ``SERIAL_BACKENDS`` the
    two model calls are serialized by a lock (``serial_models``), so one thread's decoding overlaps another's
    inference.

    Example:
        >>> with Pipeline.from_model_dir("models", backend="tflite") as pipe:
        ...     analysis = pipe.analyze_path("slice.jpg")
        ...     print(analysis.to_dict())
    """

    def __init__(self, classifier: Classifier, segmenter: Segmenter, options: BackendOptions | None = None,
                 reject_ood: bool = False):
        self.classifier, self.segmenter = classifier, segmenter
        self.reject_ood = reject_ood
        """When True, an input the input check calls out of distribution becomes an error (``--reject-ood``)."""
        self.options = options or BackendOptions()
        self.backend = classifier.backend_name
        self._same_input = (classifier.spec.input_size, classifier.spec.scale) == (
            segmenter.spec.input_size, segmenter.spec.scale)
        """Both models take the same prepared batch (resized and scaled once per image)."""
        self.serial_models = self.backend in SERIAL_BACKENDS
        """True when the models run one call at a time (under ``_model_lock``)."""
        self._model_lock = threading.Lock() if self.serial_models else contextlib.nullcontext()

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, backend: str = "onnx", options: BackendOptions | None = None
    ) -> Pipeline:
        """Load ``classifier.int8.<ext>`` and ``segmenter.int8.<ext>`` from ``model_dir``.

        Raises:
            FileNotFoundError: a model or its spec is missing (the message lists what is expected).
            ValueError: a spec that does not fit its task or graph; unknown backend.
            RuntimeError, ImportError: the backend cannot load a file or is not installed.
        """
        files = require_model_files(model_dir, backend)
        classifier = Classifier.create_from_path(files["classifier"], options)
        try:
            segmenter = Segmenter.create_from_path(files["segmenter"], options)
        except Exception:
            classifier.close()
            raise
        return cls(classifier, segmenter, options)

    def analyze(self, image: np.ndarray, name: str = "<image>") -> Analysis:
        """Classify and segment one decoded image; never raises for bad input (see ``Analysis.error``).

        Args:
            image: ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grayscale).
            name: how to name the input in the result and in errors.
        """
        return self._analyze(image, name, {})

    def analyze_path(self, path: str | Path) -> Analysis:
        """Decode a file (JPEG/PNG/BMP/TIFF/DICOM) and analyze it; errors land in ``Analysis.error``."""
        start = time.perf_counter()
        try:
            image = load_image(path)
        except _EXPECTED_ERRORS as exc:
            return self._failure(str(path), exc, {"decode": _ms(start)})
        return self._analyze(image, str(path), {"decode": _ms(start)}, start)

    def analyze_bytes(self, data: bytes, name: str = "<bytes>") -> Analysis:
        """Decode encoded file content and analyze it; errors land in ``Analysis.error``."""
        start = time.perf_counter()
        try:
            image = decode_image(data, name)
        except _EXPECTED_ERRORS as exc:
            return self._failure(name, exc, {"decode": _ms(start)})
        return self._analyze(image, name, {"decode": _ms(start)}, start)

    def _analyze(self, image: np.ndarray, name: str, timings: dict[str, float], start: float | None = None) -> Analysis:
        start = time.perf_counter() if start is None else start
        try:
            image = as_rgb(image)
            step = time.perf_counter()
            batch = self.classifier.prepare([image])
            timings["preprocess"] = _ms(step)
            with self._model_lock:
                step = time.perf_counter()
                classification = self.classifier.classify(image, batch)
                timings["classify"] = _ms(step)
                step = time.perf_counter()
                segmentation = self.segmenter.segment(image, batch if self._same_input else None)
                timings["segment"] = _ms(step)
            check = classification.input_check
            if self.reject_ood and check is not None and check.out_of_distribution:
                raise OutOfDistributionError(check)
        except _EXPECTED_ERRORS as exc:
            return self._failure(name, exc, timings, image)
        segmentation, warnings = reconcile(classification, segmentation, self.segmenter.spec.confident_area_pct)
        explanation = None
        if classification.class_map is not None:
            explanation = explanation_from_map(classification.class_map, classification.label, image.shape[:2])
        timings["total"] = _ms(start)
        return Analysis(
            name=name,
            classification=classification,
            segmentation=segmentation,
            timings_ms=timings,
            image_size=(int(image.shape[0]), int(image.shape[1])),
            backend=self.backend,
            image=image,
            warnings=warnings,
            explanation=explanation,
        )

    def _failure(self, name: str, exc: Exception, timings: dict[str, float], image=None) -> Analysis:
        size = (int(image.shape[0]), int(image.shape[1])) if isinstance(image, np.ndarray) and image.ndim >= 2 else None
        error = ErrorMessage.of(exc, printable_name(name))  # a newline in a file name stays escaped
        return Analysis(name=name, timings_ms=timings, error=error, image_size=size, backend=self.backend)

    def describe(self) -> dict[str, Any]:
        """Models, formats, backend, providers and spec summaries, plus notes (e.g. a provider fallback)."""
        active = set(self.classifier.providers) | set(self.segmenter.providers)
        notes = []
        if self.options.providers and self.backend == "onnx":
            notes = [
                f"{p} is not available in this onnxruntime build; running on {', '.join(self.classifier.providers)}"
                for p in self.options.providers
                if p not in active
            ]
        elif self.options.providers:
            notes = [f"execution providers apply to ONNX only; {self.backend} runs on the CPU (XNNPACK)"]
        return {
            "backend": self.backend,
            "providers": list(self.classifier.providers),
            "threads": self.options.threads,
            "models": {"classifier": self.classifier.describe(), "segmenter": self.segmenter.describe()},
            "notes": notes,
            "disclaimer": DISCLAIMER,
        }

    def close(self) -> None:
        """Release both models (after a model call in progress on another thread, on a serial backend)."""
        with self._model_lock:
            self.classifier.close()
            self.segmenter.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
