"""What Classifier and Segmenter share: opening an artifact, checking it fits the task, batched inference."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tumorscope.runtime.backends import BackendOptions, InferenceBackend, backend_name_for, open_backend
from tumorscope.runtime.errors import ModelError, one_line
from tumorscope.runtime.preprocess import preprocess
from tumorscope.runtime.spec import ModelSpec

__all__ = ["TaskModel", "as_rgb", "check_model"]


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Accept ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` uint8 and return ``(H, W, 3)`` uint8 RGB.

    Raises:
        TypeError: not a uint8 numpy array.
        ValueError: any other shape.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = f"dtype {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise TypeError(f"expected a uint8 numpy image, got {kind}; decode files with load_image/decode_image")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) grayscale image, got shape {image.shape}")
    return image


def check_model(backend: InferenceBackend, task: str) -> None:
    """Check the artifact's spec against the task and against its own graph shapes.

    Raises:
        ValueError: one line naming the file: wrong task, input size or channels that disagree with the
            graph, or a classifier whose output width differs from its label count.
    """
    spec, path = backend.spec, backend.path
    if spec.task != task:
        other = "Segmenter" if spec.task == "segmenter" else "Classifier"
        raise ValueError(f"{path}: this is a {spec.task} model, not a {task}; load it with {other}.create_from_path")
    shape = backend.input_shape
    if len(shape) != 4:
        raise ValueError(f"{path}: model input shape {shape} is not NHWC (N, H, W, 3); re-export the model")
    size_differs = any(g is not None and g != s for g, s in zip(shape[1:3], spec.input_size, strict=True))
    if size_differs or shape[3] not in (3, None):
        raise ValueError(
            f"{path}: spec input_size {spec.input_size[0]}x{spec.input_size[1]}x3 disagrees with the model input "
            f"shape {_fmt(shape)}; re-export the model so its .spec.json matches"
        )
    out = backend.output_shape
    if task == "classifier" and (len(out) != 2 or out[1] not in (len(spec.labels), None)):
        raise ValueError(
            f"{path}: classifier output shape {_fmt(out)} does not match the spec's {len(spec.labels)} labels; "
            "re-export the model so its .spec.json matches"
        )
    if task == "segmenter" and (len(out) not in (3, 4) or (len(out) == 4 and out[3] not in (1, None))):
        raise ValueError(f"{path}: segmenter output shape {_fmt(out)} is not (N, H, W, 1); re-export the model")


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


class TaskModel:
    """One model artifact behind a backend, checked against ``task``. Use the subclasses."""

    task: ClassVar[str]

    def __init__(self, backend: InferenceBackend):
        check_model(backend, self.task)
        self._backend: InferenceBackend | None = backend
        self.spec: ModelSpec = backend.spec
        self.path: Path = backend.path
        self.backend_name: str = backend_name_for(backend.path)
        self.providers: tuple[str, ...] = tuple(getattr(backend, "providers", ()))

    @classmethod
    def create_from_path(cls, path: str | Path, options: BackendOptions | None = None):
        """Open an ``.onnx`` or ``.tflite`` artifact; the spec comes from its sidecar (or ONNX metadata).

        Raises:
            FileNotFoundError: the model or its spec is missing.
            ValueError: unsupported suffix, or a spec that does not fit the task or the graph.
            RuntimeError: the backend cannot load the file.
            ImportError: the backend package is not installed.
        """
        backend = open_backend(path, options)
        try:
            return cls(backend)
        except Exception:
            backend.close()
            raise

    def prepare(self, images: list[np.ndarray]) -> np.ndarray:
        """The model input for ``images``: each resized and scaled by ``preprocess``, stacked ``(N, H, W, 3)``.

        Models with the same ``spec.input_size`` and ``spec.scale`` take the same batch (``Pipeline`` prepares
        it once for both).
        """
        return np.stack([preprocess(as_rgb(i), self.spec.input_size, self.spec.scale) for i in images])

    def _infer(self, images: list[np.ndarray], batch: np.ndarray | None = None) -> np.ndarray:
        """Run one batch (``prepare(images)`` unless given), return the float32 model output ``(N, ...)``."""
        return self._infer_outputs(images, batch, main_only=True)[self.spec.output_name]

    def _infer_outputs(self, images: list[np.ndarray], batch: np.ndarray | None = None,
                       main_only: bool = False) -> dict[str, np.ndarray]:
        """Like ``_infer``, but every graph output by name, the main one (``spec.output_name``) first."""
        if self._backend is None:
            raise ModelError(f"{self.path}: model is closed")
        batch = self.prepare(images) if batch is None else batch
        run_outputs = None if main_only else getattr(self._backend, "run_outputs", None)
        try:
            if run_outputs is None:
                return {self.spec.output_name: np.asarray(self._backend.run(batch), dtype=np.float32)}
            return {name: np.asarray(value, dtype=np.float32) for name, value in run_outputs(batch).items()}
        except Exception as exc:  # backends raise their own exception types
            raise ModelError(f"{self.path}: inference failed ({one_line(exc)})") from exc

    def describe(self) -> dict[str, Any]:
        """Summary for health checks: file, format, backend, providers and the spec's contract."""
        return {
            "path": str(self.path),
            "task": self.spec.task,
            "format": self.spec.format,
            "backend": self.backend_name,
            "providers": list(self.providers),
            "input_size": list(self.spec.input_size),
            "labels": list(self.spec.labels),
            "scale": self.spec.scale,
            "mask_threshold": self.spec.mask_threshold,
            "source_sha256": self.spec.source_sha256,
        }

    def close(self) -> None:
        """Release the model; later calls raise RuntimeError."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
