"""The shipped-models manifest (``models/manifest.json``): files, checksums, specs, data, metrics.

Stdlib only; a leaf module. Written by ``scripts/update_manifest.py`` from measured numbers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST_NAME", "file_sha256", "read_manifest", "write_manifest", "file_entry"]

MANIFEST_NAME = "manifest.json"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: str | Path) -> dict[str, Any]:
    """``{"file", "sha256", "size_bytes"}`` of one model file (path relative to its folder)."""
    path = Path(path)
    return {"file": path.name, "sha256": file_sha256(path), "size_bytes": path.stat().st_size}


def read_manifest(models_dir: str | Path) -> dict[str, Any]:
    """The manifest of ``models_dir``, or an empty one."""
    path = Path(models_dir) / MANIFEST_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_manifest(models_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` as indented JSON into ``models_dir`` and return its path."""
    path = Path(models_dir) / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
