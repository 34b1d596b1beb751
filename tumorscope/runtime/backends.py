"""Inference backends: ONNX Runtime and LiteRT, one interface, imported lazily.

A backend maps a float32 NHWC batch (the ``preprocess`` output) to the model's float32 output;
quantized input/output tensors (full-integer TFLite) are (de)quantized here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from tumorscope.runtime.errors import ModelError, one_line
from tumorscope.runtime.spec import SPEC_METADATA_KEY, ModelSpec, load_spec, spec_path_for

__all__ = [
    "BackendOptions",
    "InferenceBackend",
    "OnnxBackend",
    "LiteRTBackend",
    "BACKEND_SUFFIXES",
    "backend_name_for",
    "open_backend",
    "read_spec",
    "output_roles",
]

BACKEND_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}


@dataclass(frozen=True)
class BackendOptions:
    """How to run a model.

    Attributes:
        threads: intra-op threads (None: the backend's default, usually all cores).
        providers: ONNX Runtime execution providers in priority order (None: CPU only);
            e.g. ``("CUDAExecutionProvider", "CPUExecutionProvider")``. Unavailable ones are skipped.
    """

    threads: int | None = None
    providers: tuple[str, ...] | None = None


class InferenceBackend(Protocol):
    """What every backend offers.

    ``input_shape`` / ``output_shape`` are the graph's tensor shapes with None for dynamic dimensions.
    """

    spec: ModelSpec
    path: Path
    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` float32 -> model output float32 ``(N, ...)``."""

    def close(self) -> None:
        """Release the model."""


def backend_name_for(path: str | Path) -> str:
    """``onnx`` or ``tflite`` from the file suffix; ValueError names the supported ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in BACKEND_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported model file {suffix or '(no suffix)'!r}; use a .onnx or .tflite artifact "
            "exported by `tumorscope export`"
        )
    return BACKEND_SUFFIXES[suffix]


def _static_dims(shape) -> tuple[int | None, ...]:
    """Graph shape (ints, -1, None or symbolic names) -> ints with None for dynamic dimensions."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape)


def _engine(module: str, package: str):
    """Import a backend package lazily; ImportError names the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{package} is not installed; run `pip install {package}`") from exc


def _load(path: Path, engine: str, load):
    """``load()``; any failure becomes a ``ModelError`` naming the file and the fix."""
    try:
        return load()
    except Exception as exc:  # each engine raises its own exception types
        raise ModelError(f"{path}: {engine} cannot load this model ({one_line(exc)}); re-export it") from exc


def _preload_cuda(ort) -> None:
    """Load CUDA and cuDNN from the ``nvidia-*`` wheels (or PyTorch's) before a CUDA session is made.

    onnxruntime-gpu >= 1.21 finds them this way without ``LD_LIBRARY_PATH``; older builds rely on the
    system's library path, and a failure here leaves ONNX Runtime to report what is missing.
    """
    if hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception:  # noqa: BLE001 - the session's own error names the missing library
            pass


class OnnxBackend:
    """ONNX Runtime session; dynamic batch."""

    def __init__(self, path: Path, spec: ModelSpec, options: BackendOptions):
        ort = _engine("onnxruntime", "onnxruntime")
        if os.environ.get("ORT_DISABLE_TELEMETRY") == "1" and hasattr(ort, "disable_telemetry_events"):
            ort.disable_telemetry_events()  # see tumorscope/__init__.py; covers the Windows event provider too
        self.path, self.spec = path, spec
        session_options = ort.SessionOptions()
        if options.threads:
            session_options.intra_op_num_threads = options.threads
            session_options.inter_op_num_threads = 1
        available = ort.get_available_providers()
        wanted = options.providers or ("CPUExecutionProvider",)
        providers = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" in providers:
            _preload_cuda(ort)
        # TF32 convolutions (the CUDA default on Ampere and newer) round the dequantized int8 tensors differently
        # from the CPU's integer kernels, enough to flip borderline labels: keep full fp32 on the GPU
        configured = [(p, {"use_tf32": "0"}) if p == "CUDAExecutionProvider" else p for p in providers]
        self.session = _load(path, "ONNX Runtime",
                             lambda: ort.InferenceSession(str(path), session_options, providers=configured))
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = _static_dims(self.session.get_inputs()[0].shape)
        self.output_shape = _static_dims(self.session.get_outputs()[0].shape)
        self.providers = tuple(self.session.get_providers())

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0])

    def run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every graph output by name (the main one first); extra outputs come from newer exports."""
        values = self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})
        return {o.name: np.asarray(v) for o, v in zip(self.session.get_outputs(), values, strict=True)}

    def close(self) -> None:
        self.session = None


class LiteRTBackend:
    """LiteRT (TFLite) interpreter with XNNPACK; static batch 1, so batches run image by image."""

    def __init__(self, path: Path, spec: ModelSpec, options: BackendOptions):
        interpreter = _engine("ai_edge_litert.interpreter", "ai-edge-litert").Interpreter
        self.path, self.spec = path, spec
        self.interpreter = _load(path, "LiteRT", lambda: interpreter(model_path=str(path), num_threads=options.threads))
        _load(path, "LiteRT", self.interpreter.allocate_tensors)
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = output_roles(self.interpreter.get_output_details(), spec)
        self.output = next(iter(self.outputs.values()))
        self.input_shape = _static_dims(self.input.get("shape_signature", self.input["shape"]))
        self.output_shape = _static_dims(self.output.get("shape_signature", self.output["shape"]))
        self.providers = ("XNNPACK",)

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        if dtype == np.float32:
            return x.astype(np.float32, copy=False)
        scale, zero = self.input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)

    def _dequantize(self, y: np.ndarray, detail: dict | None = None) -> np.ndarray:
        detail = self.output if detail is None else detail
        if detail["dtype"] == np.float32:
            return y
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * scale

    def run(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        for image in batch:
            self.interpreter.set_tensor(self.input["index"], self._quantize(image[None]))
            self.interpreter.invoke()
            outputs.append(self._dequantize(self.interpreter.get_tensor(self.output["index"]).copy()))
        return np.concatenate(outputs, axis=0)

    def run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every output by its spec name (see ``output_roles``), main one first."""
        rows: dict[str, list[np.ndarray]] = {name: [] for name in self.outputs}
        for image in batch:
            self.interpreter.set_tensor(self.input["index"], self._quantize(image[None]))
            self.interpreter.invoke()
            for name, detail in self.outputs.items():
                rows[name].append(self._dequantize(self.interpreter.get_tensor(detail["index"]).copy(), detail))
        return {name: np.concatenate(values, axis=0) for name, values in rows.items()}

    def close(self) -> None:
        self.interpreter = None


def output_roles(details: list[dict], spec: ModelSpec) -> dict[str, dict]:
    """Name LiteRT output tensors (whose own names are unreliable) by shape, main output first.

    The main output (``spec.output_name``) is the only output, or the rank-2 one as wide as the labels;
    ``spec.cam_name`` is the rank-4 one; of the other rank-2 outputs, ``spec.features_name`` is the one as wide
    as the ``cam_weights`` rows (or the first) and ``spec.check_name`` the other (newer exports).
    """
    if len(details) == 1:
        return {spec.output_name: details[0]}
    main = next((d for d in details if len(d["shape"]) == 2 and d["shape"][-1] == len(spec.labels)), details[0])
    roles = {spec.output_name: main}
    flat = [d for d in details if d is not main and len(d["shape"]) == 2]
    width = (spec.cam_weights.get("weights") or {}).get("shape", [None])[0]
    flat.sort(key=lambda d: d["shape"][-1] != width)
    for name, detail in zip([n for n in (spec.features_name, spec.check_name) if n], flat, strict=False):
        roles[name] = detail
    for detail in details:
        if len(detail["shape"]) == 4 and spec.cam_name:
            roles[spec.cam_name] = detail
    return roles


def read_spec(path: str | Path) -> ModelSpec:
    """The spec of an artifact: its sidecar JSON, else (ONNX) the ``tumorscope_spec`` metadata."""
    path = Path(path)
    if spec_path_for(path).is_file() or path.suffix.lower() != ".onnx":
        return load_spec(path)
    import onnxruntime as ort

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    if SPEC_METADATA_KEY not in meta:
        return load_spec(path)  # raises the missing-sidecar error
    return ModelSpec.from_json(meta[SPEC_METADATA_KEY])


def open_backend(path: str | Path, options: BackendOptions | None = None) -> InferenceBackend:
    """Open an ``.onnx`` or ``.tflite`` artifact with its spec.

    Raises:
        FileNotFoundError: the model or its spec is missing.
        ValueError: unsupported suffix.
        RuntimeError: the backend cannot load the file.
    """
    path = Path(path)
    kind = backend_name_for(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found; pass --model-dir with the exported models")
    spec = read_spec(path)
    cls = OnnxBackend if kind == "onnx" else LiteRTBackend
    return cls(path, spec, options or BackendOptions())
