"""tumorscope: brain-tumor MRI classification and segmentation that runs on the edge.

For research and education only. Not a medical device; not for diagnosis.
"""

from __future__ import annotations

__all__ = ["__version__", "DISCLAIMER"]

__version__ = "0.1.0"

DISCLAIMER = "For research and education only - not for clinical diagnosis."
