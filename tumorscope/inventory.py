"""What the models folder in use holds (``tumorscope models``): path, format, sha256 and the manifest's metrics.

The folder comes from ``tumorscope.runtime.locate`` (``--model-dir`` > ``$TUMORSCOPE_MODELS`` > the models
installed with the package); checksums and metrics from ``tumorscope.manifest``. No model is loaded.

Example:
    >>> report = inventory()                 # the folder a plain `tumorscope predict` uses
    >>> print(format_inventory(report))

For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tumorscope import DISCLAIMER
from tumorscope.manifest import MANIFEST_NAME, file_sha256, read_manifest
from tumorscope.runtime.backends import BACKEND_SUFFIXES
from tumorscope.runtime.locate import ModelLocation, locate_models, model_files
from tumorscope.runtime.spec import spec_path_for

__all__ = ["format_inventory", "inventory"]


def _spec_format(path: Path) -> str | None:
    try:
        return json.loads(spec_path_for(path).read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def inventory(location: ModelLocation | str | Path | None = None) -> dict[str, Any]:
    """What a plain ``tumorscope predict`` would load: each deployable's path, format, sha256 and manifest metrics.

    Args:
        location: a :class:`ModelLocation`, a folder, or None for :func:`locate_models`'s choice.

    Returns:
        ``{"model_dir", "source", "manifest", "models": [{"file", "path", "task", "backend", "format",
        "size_bytes", "sha256", "manifest_sha256", "sha256_matches", "metrics"}], "missing": [file names],
        "disclaimer"}``; ``sha256_matches`` is None when the manifest has no entry for the file, and
        ``metrics`` is the manifest's ``{split: {metric: value}}`` (empty without an entry).

    Raises:
        FileNotFoundError: as :func:`locate_models`.
    """
    if not isinstance(location, ModelLocation):
        location = locate_models(location)
    manifest = read_manifest(location.path).get("models", {})
    models: list[dict[str, Any]] = []
    missing: list[str] = []
    for backend in BACKEND_SUFFIXES.values():
        for task, path in model_files(location.path, backend).items():
            for needed in (path, spec_path_for(path)):
                if not needed.is_file():
                    missing.append(needed.name)
            if not path.is_file():
                continue
            entry = manifest.get(path.name, {})
            sha256 = file_sha256(path)
            models.append({
                "file": path.name,
                "path": str(path.resolve()),
                "task": task,
                "backend": backend,
                "format": _spec_format(path) or entry.get("format"),
                "size_bytes": path.stat().st_size,
                "sha256": sha256,
                "manifest_sha256": entry.get("sha256"),
                "sha256_matches": (entry["sha256"] == sha256) if entry.get("sha256") else None,
                "metrics": entry.get("metrics", {}),
            })
    manifest_path = location.path / MANIFEST_NAME
    return {
        "model_dir": str(location.path.resolve()),
        "source": location.source,
        "manifest": str(manifest_path.resolve()) if manifest_path.is_file() else None,
        "models": models,
        "missing": missing,
        "disclaimer": DISCLAIMER,
    }


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def format_inventory(report: dict[str, Any]) -> str:
    """Human-readable lines of an :func:`inventory` report: folder, then per model path, sha256 and metrics."""
    lines = [f"models in use: {report['model_dir']} ({report['source']})"]
    for model in report["models"]:
        check = {True: "matches manifest.json", False: f"DIFFERS from manifest.json ({model['manifest_sha256']})",
                 None: "not in manifest.json"}[model["sha256_matches"]]
        lines += [f"{model['file']}  ({model['format'] or 'unknown format'}, {model['size_bytes'] / 1e6:.1f} MB)",
                  f"  path    {model['path']}",
                  f"  sha256  {model['sha256']}  {check}"]
        for split, values in model["metrics"].items():
            lines.append(f"  {split:<11} " + "  ".join(f"{k} {_metric(v)}" for k, v in values.items()))
    if report["missing"]:
        lines.append(f"missing: {', '.join(report['missing'])}")
    lines.append(report["disclaimer"])
    return "\n".join(lines)
