"""Open any model artifact behind the runtime's backend interface; ``.keras`` needs TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tumorscope.runtime.backends import BackendOptions, InferenceBackend, open_backend
from tumorscope.runtime.spec import ModelSpec, load_spec

__all__ = ["KerasBackend", "open_model"]


class KerasBackend:
    """A Keras ``.keras`` model with the same ``run``/``close`` interface as the runtime backends."""

    def __init__(self, path: Path, spec: ModelSpec, options: BackendOptions):
        try:
            import keras
            import tensorflow as tf
        except ImportError as exc:
            raise ImportError("TensorFlow is needed for .keras models; run `pip install tumorscope[train]`") from exc
        if options.threads:
            tf.config.threading.set_intra_op_parallelism_threads(options.threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        self.path, self.spec = path, spec
        self.model = keras.models.load_model(path, compile=False)
        self.providers = ("keras",)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(batch.astype(np.float32, copy=False), training=False))

    def close(self) -> None:
        self.model = None


def open_model(path: str | Path, options: BackendOptions | None = None, task: str | None = None) -> InferenceBackend:
    """Open ``.keras`` (TensorFlow), ``.onnx`` or ``.tflite`` with its spec sidecar.

    Args:
        path: the artifact.
        options: backend threads / providers.
        task: when given, the spec's task must be this one (``classifier`` or ``segmenter``).

    Raises:
        FileNotFoundError: model or spec missing. ValueError: unsupported suffix, bad spec, or another task.
        RuntimeError: the backend cannot load the file. ImportError: TensorFlow missing for ``.keras``.
    """
    path = Path(path)
    if path.suffix.lower() != ".keras":
        model = open_backend(path, options)
    elif not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    else:
        model = KerasBackend(path, load_spec(path), options or BackendOptions())
    if task is not None and model.spec.task != task:
        model.close()
        raise ValueError(f"{path}: the spec says this is a {model.spec.task} model, not a {task}")
    return model
