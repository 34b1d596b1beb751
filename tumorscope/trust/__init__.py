"""Measuring the trust layer: an out-of-distribution image set and the real-data measurements.

The trust layer itself (input check, consistency rule, explanations) lives in ``tumorscope.runtime``;
this package only builds test images (``oodset``) and measures (``measure``). numpy / OpenCV / runtime only.
"""

from __future__ import annotations

__all__: list[str] = []
