"""What a benchmark ran on: CPU model, cores, SIMD flags, OS and library versions (standard library only)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from tumorscope.versions import installed_versions

__all__ = ["CPU_FLAGS", "LIBRARIES", "machine_info", "library_versions", "parse_cpuinfo"]

CPU_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "sve", "i8mm", "bf16",
)
"""The instruction-set flags that change int8/fp16 inference speed (x86 ``flags``, ARM ``Features``)."""

LIBRARIES = {
    "numpy": ("numpy",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "ai-edge-litert": ("ai-edge-litert",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless"),
    "tumorscope": ("tumorscope",),
}
"""Reported name -> installed distribution names tried in order (read from metadata, nothing is imported)."""

CPUINFO = Path("/proc/cpuinfo")


def parse_cpuinfo(text: str) -> dict:
    """``/proc/cpuinfo`` text -> ``{"cpu": model, "physical_cores": int | None, "flags": [...]}``.

    ``flags`` keeps only ``CPU_FLAGS`` present on the first processor, in ``CPU_FLAGS`` order.
    """
    model, flags, cores = "", set(), set()
    physical = core = None
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("model name", "Hardware", "CPU part") and not model:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
        elif not key and physical is not None and core is not None:
            cores.add((physical, core))
            physical = core = None
    if physical is not None and core is not None:
        cores.add((physical, core))
    return {"cpu": model, "physical_cores": len(cores) or None, "flags": [f for f in CPU_FLAGS if f in flags]}


def library_versions() -> dict[str, str | None]:
    """Installed versions of the inference stack; None for a library that is not installed."""
    return installed_versions(LIBRARIES)


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def machine_info() -> dict:
    """The machine header of a benchmark.

    Returns:
        ``{"cpu", "cores" (logical), "physical_cores", "usable_cores" (this process's affinity), "flags",
        "memory_gb", "os", "arch", "python"}``; unknown values are None.
    """
    try:
        info = parse_cpuinfo(CPUINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        info = {"cpu": "", "physical_cores": None, "flags": []}
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": info["cpu"] or platform.processor() or None,
        "cores": os.cpu_count(),
        "physical_cores": info["physical_cores"],
        "usable_cores": usable,
        "flags": info["flags"],
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
