"""Lightweight runtime: both models on CPU, GPU (ONNX Runtime providers) and edge (LiteRT), no TensorFlow.

Imports only the standard library, numpy, OpenCV, onnxruntime and ai_edge_litert (each backend lazily).

Example:
    >>> from tumorscope.runtime import Pipeline
    >>> with Pipeline.from_model_dir("models", backend="onnx") as pipe:
    ...     print(pipe.analyze_path("slice.jpg").to_dict())

For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

from tumorscope.runtime.backends import BackendOptions
from tumorscope.runtime.classifier import Classifier
from tumorscope.runtime.locate import MODELS_ENV, locate_models, model_files, resolve_model_dir
from tumorscope.runtime.overlay import render_overlay
from tumorscope.runtime.pipeline import BACKENDS, Pipeline
from tumorscope.runtime.preprocess import ImageError, decode_image, load_image
from tumorscope.runtime.results import RESULT_KEYS, Analysis, Classification, Segmentation
from tumorscope.runtime.segmenter import Segmenter
from tumorscope.runtime.spec import ModelSpec

__all__ = [
    "BACKENDS",
    "MODELS_ENV",
    "RESULT_KEYS",
    "Analysis",
    "BackendOptions",
    "Classification",
    "Classifier",
    "ImageError",
    "ModelSpec",
    "Pipeline",
    "Segmentation",
    "Segmenter",
    "decode_image",
    "load_image",
    "locate_models",
    "model_files",
    "render_overlay",
    "resolve_model_dir",
]
