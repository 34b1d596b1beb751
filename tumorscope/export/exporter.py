"""``export_model``: one Keras model in, validated artifacts of the chosen formats out.

Each format is converted in a temporary folder inside ``out_dir``, gets its spec sidecar, is run
through the runtime backend on held-out images and compared with the Keras original; only an
artifact that passes is moved to ``out_dir/<stem><suffix>``, so a bad export never replaces a good
one. A failing format is recorded and the others continue; the caller decides the exit code.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tumorscope.assess.models import KerasBackend, open_model
from tumorscope.datasets import resolve_data_root
from tumorscope.export.calibration import DEFAULT_COUNT, calibration_images, validation_images
from tumorscope.export.deps import require, tool_versions
from tumorscope.export.formats import ExportFormat, artifact_path, parse_formats
from tumorscope.export.onnx_export import export_onnx, quantize_onnx_int8, set_spec_metadata
from tumorscope.export.tflite_export import export_tflite
from tumorscope.export.trust import (
    DEFAULT_TRUST_COUNT,
    TrustImages,
    fit_artifact_input_check,
    fit_confident_area,
    trust_images_from_data,
    trust_model,
    trust_spec,
    tumor_free_val_images,
)
from tumorscope.export.validation import ExportValidationError, compare_outputs, limit_failures, parity_limits
from tumorscope.manifest import file_sha256
from tumorscope.runtime.backends import InferenceBackend
from tumorscope.runtime.errors import one_line
from tumorscope.runtime.spec import ModelSpec, load_spec, save_spec, spec_path_for

__all__ = ["ExportResult", "export_model", "raise_on_failure", "results_table", "run_batched"]

BATCH = 16
CAM_IMAGES = 8
"""TRAINING images (evenly spaced) on which the exported class maps are checked against TensorFlow's Grad-CAM."""


@dataclass(frozen=True)
class ExportResult:
    """Outcome of one format.

    Attributes:
        format: format name (``onnx-int8``, ...).
        path: the artifact in ``out_dir`` (the original for ``keras``); not written when ``passed`` is False.
        size_mb: artifact size in MiB (0 when conversion failed).
        seconds: wall time to convert and validate.
        checks: ``compare_outputs`` numbers (agreement / Dice / probability deltas, image count).
        passed: True when converted and within its parity limits.
        error: one-line reason when not passed.
    """

    format: str
    path: Path
    size_mb: float
    seconds: float
    checks: dict = field(default_factory=dict)
    passed: bool = True
    error: str | None = None


def run_batched(backend: InferenceBackend, images: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Run ``images`` ``(N, H, W, 3)`` float32 through ``backend`` in chunks; returns the stacked outputs."""
    return np.concatenate([backend.run(images[s : s + batch]) for s in range(0, len(images), batch)], axis=0)


def _check_images(images: np.ndarray, spec: ModelSpec, what: str) -> np.ndarray:
    images = np.asarray(images)
    expected = (*spec.input_size, 3)
    if images.ndim != 4 or images.shape[1:] != expected or len(images) == 0:
        raise ValueError(f"{what} images must be (N, {expected[0]}, {expected[1]}, 3) with N >= 1, got {images.shape}")
    if images.dtype.kind != "f":
        raise TypeError(f"{what} images must be float model inputs (preprocess output), got dtype {images.dtype}")
    return images.astype(np.float32, copy=False)


@dataclass(frozen=True)
class _Job:
    """What every format of one ``export_model`` call shares."""

    original: KerasBackend
    keras_path: Path
    out_dir: Path
    source: ModelSpec
    validation: np.ndarray
    reference: np.ndarray
    calibration: np.ndarray | None
    limits: Mapping[str, Mapping[str, float]] | None
    sha256: str
    versions: dict[str, str]
    onnx_calibration: str = "minmax"
    trust: TrustJob | None = None
    onnx_format: str = "qoperator"

    def spec_for(self, fmt: ExportFormat) -> ModelSpec:
        """The source spec plus this artifact's format, source hash and tool versions (and trust outputs)."""
        trust = self.trust
        source = self.source if trust is None or trust.model is None else trust_spec(self.source, trust.cam_weights)
        return source.replace(format=fmt.name, source_sha256=self.sha256,
                                   versions={**self.source.versions, **self.versions})


def _convert(job: _Job, fmt: ExportFormat, spec: ModelSpec, path: Path, work: Path) -> None:
    model = job.original.model if job.trust is None or job.trust.model is None else job.trust.model
    if fmt.backend == "onnx" and fmt.quantization == "none":
        export_onnx(model, spec, path)
    elif fmt.backend == "onnx" and fmt.quantization == "int8":
        quantize_onnx_int8(export_onnx(model, spec, work / "fp32.onnx"), path, spec, job.calibration,
                           job.onnx_calibration, job.onnx_format)
    elif fmt.backend == "tflite":
        export_tflite(model, spec, path, fmt.quantization, job.calibration)
    else:
        raise ValueError(f"format {fmt.name!r} ({fmt.backend}, {fmt.quantization}) has no exporter")


@dataclass(frozen=True)
class TrustJob:
    """Trust-layer fits of an export.

    Classifier: the model with trust outputs and the images its input check is fitted on. Segmenter:
    ``model`` None and ``images.val`` the tumour-free val slices its confidence threshold is measured on.
    """

    model: object | None
    images: TrustImages
    predicted: np.ndarray | None
    cam_weights: dict | None = None


def _trust_job(original: KerasBackend, source: ModelSpec, root: Path | None, calibration: np.ndarray | None,
               validation: np.ndarray, trust_count: int) -> TrustJob | None:
    """The trust outputs and fit images of an export (None for ``trust_count=0``).

    With a data root: ``trust_count`` TRAINING images (true labels) and every val image; without one
    (tests with given arrays): the calibration images labelled by the original, and ``validation``.
    """
    if trust_count == 0:
        return None
    if source.task == "segmenter":
        return None if root is None else TrustJob(None, TrustImages(None, None, tumor_free_val_images(root, source)),
                                                  None)
    if root is not None:
        images = trust_images_from_data(root, source, trust_count)
    else:
        train = calibration if calibration is not None else validation
        images = TrustImages(train, None, validation)
    predicted = None if images.train_labels is not None else np.argmax(run_batched(original, images.train), axis=1)
    model, cam_weights = trust_model(original.model, images.train[:: max(1, len(images.train) // CAM_IMAGES)])
    return TrustJob(model, images, predicted, cam_weights)


def _fit_input_check(job: _Job, fmt: ExportFormat, staged: Path) -> None:
    """Fit the input check (classifier) or the confidence threshold (segmenter) on the staged artifact's own
    outputs; rewrite its spec (sidecar and ONNX metadata)."""
    spec = job.spec_for(fmt)
    if job.trust.model is None:
        spec = spec.replace(confident_area_pct=fit_confident_area(staged, job.trust.images.val))
    else:
        spec = spec.replace(input_check=fit_artifact_input_check(staged, spec, job.trust.images, job.trust.predicted))
    save_spec(spec, staged)
    if fmt.backend == "onnx":
        onnx = require("onnx")
        proto = onnx.load(str(staged))
        set_spec_metadata(proto, spec)
        onnx.save(proto, str(staged))


def _validate(job: _Job, fmt: ExportFormat, path: Path) -> dict:
    """Run the artifact through the runtime on the validation images; raise if it breaks its parity limits."""
    backend = open_model(path)
    try:
        output = run_batched(backend, job.validation)
    finally:
        backend.close()
    checks = compare_outputs(job.source.task, job.reference, output, job.source.mask_threshold)
    failures = limit_failures(parity_limits(job.source.task, fmt, job.limits), checks)
    if failures:
        raise ExportValidationError(
            f"disagrees with the Keras original on {checks['images']} validation images: " + "; ".join(failures),
            checks,
        )
    return checks


def _export_one(job: _Job, fmt: ExportFormat) -> ExportResult:
    """Convert, validate and publish one format; every failure becomes ``passed=False`` with a reason."""
    start = time.perf_counter()
    target = artifact_path(job.keras_path, fmt, job.out_dir)
    size_mb = 0.0
    try:
        with tempfile.TemporaryDirectory(prefix=".tumorscope-export-", dir=job.out_dir) as tmp:
            staged = Path(tmp) / target.name
            _convert(job, fmt, job.spec_for(fmt), staged, Path(tmp))
            save_spec(job.spec_for(fmt), staged)
            if job.trust is not None:
                _fit_input_check(job, fmt, staged)
            size_mb = round(staged.stat().st_size / 2**20, 3)
            checks = _validate(job, fmt, staged)
            os.replace(staged, target)
            os.replace(spec_path_for(staged), spec_path_for(target))
    except Exception as exc:  # record and continue with the other formats
        checks = exc.checks if isinstance(exc, ExportValidationError) else {}
        return ExportResult(fmt.name, target, size_mb, time.perf_counter() - start, checks, False,
                            f"{fmt.name}: {one_line(exc)}")
    return ExportResult(fmt.name, target, size_mb, time.perf_counter() - start, checks)


def _load_images(source: ModelSpec, formats: list[ExportFormat], data_root, calibration, validation,
                 calibration_count: int, validation_count: int) -> tuple[np.ndarray | None, np.ndarray]:
    """The calibration (None when no format needs it) and validation arrays, from data where not given."""
    calibrated = any(f.calibrated for f in formats)
    needs_data = validation is None or (calibrated and calibration is None)
    root = resolve_data_root(data_root) if needs_data else None
    size, scale = source.input_size, source.scale
    if not calibrated:
        calibration = None
    elif calibration is None:
        calibration = calibration_images(root, source.task, calibration_count, size, scale)
    if validation is None:
        validation = validation_images(root, source.task, validation_count, size, scale)
    checked = None if calibration is None else _check_images(calibration, source, "calibration")
    return checked, _check_images(validation, source, "validation")


def export_model(
    keras_path: str | Path,
    formats: str | Iterable[str | ExportFormat] | None = None,
    *,
    out_dir: str | Path,
    data_root: str | Path | None = None,
    calibration: np.ndarray | None = None,
    validation: np.ndarray | None = None,
    limits: Mapping[str, Mapping[str, float]] | None = None,
    calibration_count: int = DEFAULT_COUNT,
    validation_count: int = DEFAULT_COUNT,
    onnx_calibration: str = "minmax",
    trust_count: int = DEFAULT_TRUST_COUNT,
    onnx_format: str = "qoperator",
) -> list[ExportResult]:
    """Export a Keras model (with its ``.spec.json`` sidecar) to the given formats and validate each.

    Args:
        keras_path: ``.keras`` file with a sidecar spec (``load_spec``).
        formats: names (``"onnx,tflite-int8"`` or a list); None or ``"all"``: every exportable format.
            ``keras`` yields a row for the original without writing anything.
        out_dir: where the artifacts (``<stem><suffix>`` + ``.spec.json``) go; created if missing.
            Nothing is written elsewhere (temporary work happens in a temp folder inside it).
        data_root: real data root (default ``$TUMORSCOPE_DATA``); used for what ``calibration`` /
            ``validation`` do not override.
        calibration: ``(N, H, W, 3)`` float32 int8 calibration inputs; default ``calibration_count``
            TRAINING-split images.
        validation: ``(N, H, W, 3)`` float32 held-out inputs; default ``validation_count`` val-split images.
        onnx_calibration: ONNX Runtime calibration method of ``onnx-int8`` (``minmax``, ``entropy``,
            ``percentile``).
        onnx_format: graph layout of ``onnx-int8``: ``qoperator`` (integer operators, for CPUs) or ``qdq``
            (quantize/dequantize pairs, for GPU providers); see ``onnx_export.QUANT_FORMATS``.
        limits: ``{format: {key: limit}}`` overriding the committed ``parity_with_keras`` limits of those
            formats (label-free keys: ``min_agreement``, ``max_prob_delta``, ``min_parity_dice``); None or a
            missing format: the committed limits (``tumorscope/assess/limits.json``).
        trust_count: classifier only: TRAINING images the input check is fitted on (``export.trust``);
            the artifacts get ``features``, ``class_maps`` and ``check_features`` outputs and a fitted
            ``input_check`` spec.
            0 exports the probabilities only. Without a data root (``calibration`` and ``validation``
            given) the fit uses those arrays, labelled by the original's predictions.

    Returns:
        One ``ExportResult`` per format, in order.

    Raises:
        FileNotFoundError: missing model, spec or data root; ValueError/TypeError: bad arguments.
    """
    keras_path, out_dir = Path(keras_path), Path(out_dir)
    chosen = parse_formats(formats)
    if keras_path.suffix.lower() != ".keras":
        raise ValueError(f"{keras_path}: expected a .keras model to export")
    if not keras_path.is_file():
        raise FileNotFoundError(f"{keras_path}: model file not found; train it first or fix --model")
    source = load_spec(keras_path)
    exported = [f for f in chosen if f.backend != "keras"]
    validation_given = validation is not None
    if exported:
        calibration, validation = _load_images(source, exported, data_root, calibration, validation,
                                               calibration_count, validation_count)
    out_dir.mkdir(parents=True, exist_ok=True)
    original_row = ExportResult("keras", keras_path, round(keras_path.stat().st_size / 2**20, 3), 0.0)
    if not exported:
        return [original_row for _ in chosen]
    original = open_model(keras_path)
    try:
        trust_root = resolve_data_root(data_root) if data_root is not None or validation_given is False else None
        trust = _trust_job(original, source, trust_root, calibration, validation, trust_count)
        job = _Job(original, keras_path, out_dir, source, validation, run_batched(original, validation), calibration,
                   limits, file_sha256(keras_path), tool_versions(), onnx_calibration, trust, onnx_format)
        return [original_row if f.backend == "keras" else _export_one(job, f) for f in chosen]
    finally:
        original.close()


def raise_on_failure(results: list[ExportResult]) -> None:
    """Raise ``ExportValidationError`` (one line naming each failed format and why) if any failed."""
    failed = [r for r in results if not r.passed]
    if failed:
        raise ExportValidationError(
            f"export failed for {len(failed)} of {len(results)} formats: " + " | ".join(str(r.error) for r in failed)
        )


def _checks_text(checks: dict) -> str:
    shown = [(k, v) for k, v in checks.items() if k != "images"]
    text = ", ".join(f"{k} {v:.4f}" for k, v in shown)
    return f"{text} (n={checks['images']})" if shown else "-"


def results_table(results: list[ExportResult]) -> str:
    """Markdown table: format | status | size MB | seconds | checks."""
    rows = ["| format | status | size MB | s | checks |", "| --- | --- | ---: | ---: | --- |"]
    for r in results:
        status = "ok" if r.passed else "FAILED"
        rows.append(f"| {r.format} | {status} | {r.size_mb:.2f} | {r.seconds:.1f} | {_checks_text(r.checks)} |")
    return "\n".join(rows)
