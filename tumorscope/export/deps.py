"""Optional export dependencies: imported on demand, with the install hint when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from tumorscope.versions import installed_versions

__all__ = ["INSTALL_HINT", "require", "tool_versions"]

INSTALL_HINT = "pip install tumorscope[export]"
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "keras": ("keras",),
    "tf2onnx": ("tf2onnx",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "ai-edge-litert": ("ai-edge-litert",),
}


def require(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``tensorflow``, ``tf2onnx``).

    Raises:
        ImportError: naming the module and the ``pip install tumorscope[export]`` fix.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is needed to export models but is not installed; run `{INSTALL_HINT}`") from exc


def tool_versions() -> dict[str, str]:
    """Installed versions of the export toolchain, e.g. ``{"tensorflow": "2.21.0", ...}`` (missing ones left out)."""
    return {name: version for name, version in installed_versions(_DISTRIBUTIONS).items() if version}
