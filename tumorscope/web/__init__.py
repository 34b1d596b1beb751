"""The tumorscope web app: upload an MRI slice, see the class, confidences, tumor overlay and area.

Imports only the runtime (never TensorFlow), so the server starts on an edge device.
Production: ``gunicorn -w 2 'tumorscope.web:create_app()'`` (models from ``$TUMORSCOPE_MODELS``).
"""

from __future__ import annotations

from tumorscope.web.app import create_app
from tumorscope.web.server import serve

__all__ = ["create_app", "serve"]
