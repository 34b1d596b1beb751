"""Benchmark every model format against its Keras original: latency, memory, accuracy and parity, CI-gated.

    >>> from tumorscope.bench import benchmark, write_markdown
    >>> report = benchmark("classifier", "keras,onnx-int8,tflite-int8", limit=100)
    >>> print(report.failures or "gate passed")

Attributes resolve lazily, so ``python -m tumorscope.bench.worker`` imports only what one format needs.
For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

import importlib

__all__ = [
    "BenchReport",
    "benchmark",
    "check_rows",
    "load_thresholds",
    "machine_info",
    "to_markdown",
    "write_csv",
    "write_json",
    "write_markdown",
    "write_plot",
]

_HOMES = {
    "BenchReport": "harness", "benchmark": "harness", "check_rows": "thresholds", "load_thresholds": "thresholds",
    "machine_info": "machine", "to_markdown": "render", "write_csv": "render", "write_json": "render",
    "write_markdown": "render", "write_plot": "render",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'tumorscope.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tumorscope.bench.{_HOMES[name]}"), name)
