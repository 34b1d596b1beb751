"""The model spec: everything a runtime needs to feed a model and read its outputs.

The spec travels with every artifact (a sidecar ``<model>.spec.json`` and, for ONNX, the
``tumorscope_spec`` metadata entry), so nothing downstream hard-codes sizes or labels.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelSpec", "INTENDED_USE", "SPEC_METADATA_KEY", "spec_path_for", "load_spec", "save_spec"]

INTENDED_USE = "Research and education only. Not a medical device; not for clinical diagnosis."
SPEC_METADATA_KEY = "tumorscope_spec"
TASKS = ("classifier", "segmenter")


@dataclass(frozen=True)
class ModelSpec:
    """Input/output contract of one model artifact.

    Attributes:
        task: ``"classifier"`` or ``"segmenter"``.
        input_size: ``(height, width)`` the model expects.
        channel_order: ``"RGB"``: the order of the 3 input channels.
        scale: input = pixel_uint8 * scale (``1/255`` gives float32 in [0, 1]).
        labels: class names in output order (classifier), or ``("tumor",)`` (segmenter).
        mask_threshold: probability above which a pixel is tumor (segmenter).
        input_name: graph input name; output_name: graph output name.
        source_sha256: sha256 of the Keras model the artifact came from ("" for originals).
        format: artifact format name (``keras``, ``onnx-int8``, ...).
        versions: tool versions used to make the artifact.
        intended_use: the not-for-diagnosis notice.
        features_name: classifier graph output with the penultimate features ``(N, D)``, "" when the
            artifact has none (exported before the input check existed).
        cam_name: classifier graph output with class activation maps, "" when none: with ``cam_weights``, the
            last conv maps projected onto the features ``(N, h, w, U)`` (each image's Grad-CAM maps follow,
            ``runtime.explain.class_maps_from_outputs``); without (older exports), ``(N, h, w, len(labels))``
            maps of dataset-averaged Grad-CAM weights.
        cam_weights: ``{"weights": encoded (U, len(labels)) final-layer kernel, "gated": the features are
            ReLU outputs}``; empty for older exports.
        check_name: classifier graph output the input check scores: an earlier conv block's maps averaged over
            space ``(N, C)``; "" for older exports, whose check scores ``features_name`` (see ``check_output``).
        input_check: fitted input-check parameters (``runtime.inputcheck``); empty when not fitted.
        confident_area_pct: segmenter: when the share of the slice (%) where its probability is at least
            ``runtime.consistency.CONFIDENT_LEVEL`` exceeds this, its region is kept even when the classifier
            says ``notumor`` (measured at export on tumour-free val slices); None when not measured.
        min_region_pct: segmenter: predicted regions (8-connected, at the original image size) smaller than this
            share of the slice (%) are dropped as noise; half the smallest tumour in the training masks
            (``training.train.min_region_pct``); 0 keeps every region (older specs).
    """

    task: str
    input_size: tuple[int, int]
    labels: tuple[str, ...]
    channel_order: str = "RGB"
    scale: float = 1.0 / 255.0
    mask_threshold: float = 0.5
    input_name: str = "image"
    output_name: str = "output"
    source_sha256: str = ""
    format: str = "keras"
    versions: dict[str, str] = field(default_factory=dict)
    intended_use: str = INTENDED_USE
    features_name: str = ""
    cam_name: str = ""
    cam_weights: dict[str, Any] = field(default_factory=dict)
    check_name: str = ""
    input_check: dict[str, Any] = field(default_factory=dict)
    confident_area_pct: float | None = None
    min_region_pct: float = 0.0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"spec task must be one of {TASKS}, got {self.task!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 8:
            raise ValueError(f"spec input_size must be (height, width) >= 8, got {self.input_size!r}")
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "labels", tuple(str(v) for v in self.labels))

    @property
    def check_output(self) -> str:
        """The graph output the input check scores ("" when the artifact has none)."""
        return self.check_name or self.features_name

    def to_json(self) -> str:
        """Serialize to a JSON string (stable key order)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Parse a spec from JSON, ignoring unknown keys written by newer versions."""
        raw: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def replace(self, **changes: Any) -> ModelSpec:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def spec_path_for(model_path: str | Path) -> Path:
    """Sidecar path of a model file: ``models/x.int8.onnx`` -> ``models/x.int8.onnx.spec.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".spec.json")


def save_spec(spec: ModelSpec, model_path: str | Path) -> Path:
    """Write the sidecar spec next to ``model_path`` and return its path."""
    path = spec_path_for(model_path)
    path.write_text(spec.to_json() + "\n", encoding="utf-8")
    return path


def load_spec(model_path: str | Path) -> ModelSpec:
    """Read the sidecar spec of ``model_path``.

    Raises:
        FileNotFoundError: with the expected sidecar path when it is missing.
    """
    path = spec_path_for(model_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{model_path}: model spec {path.name} not found next to it; "
            "re-export the model with `tumorscope export` so the spec travels with it"
        )
    return ModelSpec.from_json(path.read_text(encoding="utf-8"))
