"""``export_model``: one Keras model in, validated artifacts of the chosen formats out.

Each format is converted in a temporary folder inside ``out_dir``, gets its spec sidecar, is run
through the runtime backend on held-out images and compared with the Keras original; only an
artifact that passes is moved to ``out_dir/<stem><suffix>``, so a bad export never replaces a good
one. A failing format is recorded and the others continue; the caller decides the exit code.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tumorscope.datasets import resolve_data_root
from tumorscope.evaluation.models import open_model
from tumorscope.export.calibration import DEFAULT_COUNT, calibration_images, validation_images
from tumorscope.export.deps import tool_versions
from tumorscope.export.formats import ExportFormat, artifact_path, parse_formats
from tumorscope.export.onnx_export import export_onnx, quantize_onnx_int8
from tumorscope.export.tflite_export import export_tflite
from tumorscope.export.validation import (
    ExportValidationError,
    Tolerances,
    compare_outputs,
    default_tolerances,
    tolerance_failures,
)
from tumorscope.runtime.backends import InferenceBackend
from tumorscope.runtime.spec import ModelSpec, load_spec, save_spec, spec_path_for

__all__ = ["ExportResult", "export_model", "raise_on_failure", "results_table", "file_sha256", "run_batched"]

BATCH = 16


@dataclass(frozen=True)
class ExportResult:
    """Outcome of one format.

    Attributes:
        format: format name (``onnx-int8``, ...).
        path: the artifact in ``out_dir`` (the original for ``keras``); not written when ``passed`` is False.
        size_mb: artifact size in MiB (0 when conversion failed).
        seconds: wall time to convert and validate.
        checks: ``compare_outputs`` numbers (agreement / Dice / probability deltas, image count).
        passed: True when converted and within tolerances.
        error: one-line reason when not passed.
    """

    format: str
    path: Path
    size_mb: float
    seconds: float
    checks: dict = field(default_factory=dict)
    passed: bool = True
    error: str | None = None


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _tolerances_for(fmt: ExportFormat, tolerances: Tolerances | Mapping[str, Tolerances] | None) -> Tolerances:
    if isinstance(tolerances, Tolerances):
        return tolerances
    if tolerances is not None and fmt.name in tolerances:
        return tolerances[fmt.name]
    return default_tolerances(fmt)


def _convert(model, spec: ModelSpec, fmt: ExportFormat, path: Path, calibration: np.ndarray | None, work: Path) -> None:
    if fmt.backend == "onnx" and fmt.quantization == "none":
        export_onnx(model, spec, path)
    elif fmt.backend == "onnx" and fmt.quantization == "int8":
        fp32 = export_onnx(model, spec, work / "fp32.onnx")
        quantize_onnx_int8(fp32, path, spec, calibration)
    elif fmt.backend == "tflite":
        export_tflite(model, spec, path, fmt.quantization, calibration)
    else:
        raise ValueError(f"format {fmt.name!r} ({fmt.backend}, {fmt.quantization}) has no exporter")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def _export_one(
    keras, source: ModelSpec, fmt: ExportFormat, keras_path: Path, out_dir: Path, common: dict
) -> ExportResult:
    """Convert, validate and publish one format; every failure becomes ``passed=False`` with a reason."""
    start = time.perf_counter()
    target = artifact_path(keras_path, fmt, out_dir)
    size_mb, checks = 0.0, {}
    try:
        spec = source.replace(format=fmt.name, source_sha256=common["sha256"],
                              versions={**source.versions, **common["versions"]})
        with tempfile.TemporaryDirectory(prefix=".tumorscope-export-", dir=out_dir) as tmp:
            work = Path(tmp)
            staged = work / target.name
            _convert(keras.model, spec, fmt, staged, common["calibration"], work)
            save_spec(spec, staged)
            size_mb = staged.stat().st_size / 2**20
            backend = open_model(staged)
            try:
                output = run_batched(backend, common["validation"])
            finally:
                backend.close()
            checks = compare_outputs(source.task, common["reference"], output, source.mask_threshold)
            failures = tolerance_failures(source.task, checks, _tolerances_for(fmt, common["tolerances"]))
            if failures:
                raise ExportValidationError(
                    f"disagrees with the Keras original on {checks['images']} validation images: "
                    + "; ".join(failures)
                )
            os.replace(staged, target)
            os.replace(spec_path_for(staged), spec_path_for(target))
    except Exception as exc:  # record and continue with the other formats
        return ExportResult(fmt.name, target, round(size_mb, 3), time.perf_counter() - start, checks, False,
                            f"{fmt.name}: {_one_line(exc)}")
    return ExportResult(fmt.name, target, round(size_mb, 3), time.perf_counter() - start, checks)


def export_model(
    keras_path: str | Path,
    formats: str | Iterable[str | ExportFormat] | None = None,
    *,
    out_dir: str | Path,
    data_root: str | Path | None = None,
    calibration: np.ndarray | None = None,
    validation: np.ndarray | None = None,
    tolerances: Tolerances | Mapping[str, Tolerances] | None = None,
    calibration_count: int = DEFAULT_COUNT,
    validation_count: int = DEFAULT_COUNT,
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
        tolerances: one ``Tolerances`` for all formats, a ``{format: Tolerances}`` mapping, or None
            for the per-format defaults.

    Returns:
        One ``ExportResult`` per format, in order.

    Raises:
        FileNotFoundError: missing model, spec or data root; ValueError/TypeError: bad arguments.
    """
    keras_path, out_dir = Path(keras_path), Path(out_dir)
    chosen = parse_formats(formats)
    if keras_path.suffix.lower() != ".keras":
        raise ValueError(f"{keras_path}: expected a .keras model to export")
    source = load_spec(keras_path) if keras_path.is_file() else None
    if source is None:
        raise FileNotFoundError(f"{keras_path}: model file not found; train it first or fix --model")
    exported = [f for f in chosen if f.backend != "keras"]
    common: dict = {"tolerances": tolerances, "calibration": None}
    if exported:
        calibrated = any(f.calibrated for f in exported)
        needs_data = validation is None or (calibrated and calibration is None)
        root = resolve_data_root(data_root) if needs_data else None
        size, scale = source.input_size, source.scale
        if calibrated:
            if calibration is None:
                calibration = calibration_images(root, source.task, calibration_count, size, scale)
            common["calibration"] = _check_images(calibration, source, "calibration")
        if validation is None:
            validation = validation_images(root, source.task, validation_count, size, scale)
        common["validation"] = _check_images(validation, source, "validation")
        common["sha256"], common["versions"] = file_sha256(keras_path), tool_versions()
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    keras = open_model(keras_path) if exported else None
    try:
        if keras is not None:
            common["reference"] = run_batched(keras, common["validation"])
        for fmt in chosen:
            if fmt.backend == "keras":
                results.append(ExportResult(fmt.name, keras_path, round(keras_path.stat().st_size / 2**20, 3), 0.0))
            else:
                results.append(_export_one(keras, source, fmt, keras_path, out_dir, common))
    finally:
        if keras is not None:
            keras.close()
    return results


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
