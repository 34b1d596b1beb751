"""The tumorscope web app: upload an MRI slice, see the class, confidences, tumor overlay and area.

Imports only the runtime (never TensorFlow), so the server starts on an edge device.
Production: ``gunicorn -k gthread --threads 4 -w 2 'tumorscope.web:create_app()'`` (models from
``$TUMORSCOPE_MODELS``) or any WSGI server behind a buffering reverse proxy; see the README.
"""

from __future__ import annotations

from tumorscope.web.app import create_app
from tumorscope.web.server import serve

__all__ = ["create_app", "serve"]
