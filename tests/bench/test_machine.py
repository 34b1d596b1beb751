"""Machine header: /proc/cpuinfo parsing on a fixed sample, and the live header's keys."""

from __future__ import annotations

import numpy as np

from tumorscope.bench.machine import library_versions, machine_info, parse_cpuinfo

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile amx_int8 ht

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile amx_int8 ht

processor\t: 2
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile amx_int8 ht
"""

ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 48.00
Features\t: fp asimd evtstrm aes asimddp i8mm bf16
CPU part\t: 0xd40
"""


def test_parse_cpuinfo_x86_model_physical_cores_and_flags():
    info = parse_cpuinfo(CPUINFO)
    assert info["cpu"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert info["physical_cores"] == 2  # three logical processors on two (physical id, core id) pairs
    assert info["flags"] == ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"]


def test_parse_cpuinfo_arm_features():
    info = parse_cpuinfo(ARM_CPUINFO)
    assert info["flags"] == ["asimd", "asimddp", "i8mm", "bf16"]
    assert info["physical_cores"] is None and info["cpu"] == "0xd40"


def test_machine_info_has_cpu_cores_flags():
    info = machine_info()
    assert {"cpu", "cores", "physical_cores", "usable_cores", "flags", "memory_gb", "os", "arch", "python"} <= set(info)
    assert info["cores"] >= 1 and 1 <= info["usable_cores"] <= info["cores"]
    assert isinstance(info["flags"], list) and all(isinstance(f, str) for f in info["flags"])
    assert info["arch"] and info["os"]


def test_library_versions_read_installed_metadata():
    versions = library_versions()
    assert versions["numpy"] == np.__version__
    assert set(versions) >= {"numpy", "onnxruntime", "ai-edge-litert", "tensorflow", "opencv"}
