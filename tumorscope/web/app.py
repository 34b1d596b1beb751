"""The Flask app factory: models load once, security headers on every response, errors never leak internals."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from tumorscope import DISCLAIMER, __version__
from tumorscope.web.routes import bp
from tumorscope.web.service import Analyzer, AnalyzerBusy
from tumorscope.web.uploads import UploadError

__all__ = ["SECURITY_HEADERS", "create_app"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(model_dir: str | Path | None = None, backend: str = "onnx", threads: int | None = None,
               max_upload_mb: float = 20, max_concurrent: int | None = None) -> Flask:
    """Build the web app and load both models once.

    Args:
        model_dir: folder with ``classifier.int8.<ext>`` and ``segmenter.int8.<ext>`` plus their ``.spec.json``
            (None: ``$TUMORSCOPE_MODELS``, else the checkout's ``models/``; see ``runtime.resolve_model_dir``).
        backend: ``onnx`` (parallel requests) or ``tflite`` (requests serialized on the interpreter).
        threads: intra-op threads per model (None: the backend's default).
        max_upload_mb: largest accepted request body; bigger uploads get 413.
        max_concurrent: analyses this process runs at once (None: one per CPU core); more requests wait
            for a slot, up to 30 s, then get 503.

    Raises:
        FileNotFoundError, ValueError, RuntimeError, ImportError: the models cannot be loaded (one line naming
            the file, or the missing backend package).
    """
    if max_upload_mb <= 0:
        raise ValueError(f"max_upload_mb must be positive, got {max_upload_mb}")
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=int(max_upload_mb * 2**20),
        TUMORSCOPE_MAX_UPLOAD_MB=max_upload_mb,
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
    )
    app.json.sort_keys = False  # keep the result keys in RESULT_KEYS order
    app.extensions["tumorscope"] = Analyzer(model_dir, backend=backend, threads=threads,
                                            max_concurrent=max_concurrent)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(disclaimer=DISCLAIMER, version=__version__, max_upload_mb=max_upload_mb)
    app.after_request(_secure_headers)
    app.register_error_handler(UploadError, _bad_upload)
    app.register_error_handler(AnalyzerBusy, _busy)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _secure_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # results hold the uploaded scan
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _error_response(message: str, status: int) -> tuple[Response | str, int]:
    """JSON ``{"error", "disclaimer"}`` on the API, else the upload page with the message."""
    if _wants_json():
        return jsonify(error=message, disclaimer=DISCLAIMER), status
    return render_template("index.html", error=message), status


def _bad_upload(exc: UploadError):
    return _error_response(str(exc), 400)


def _busy(exc: AnalyzerBusy):
    current_app.logger.warning("busy: %s", exc)
    body, status = _error_response("the server is busy analysing other uploads; try again in a few seconds", 503)
    return body, status, {"Retry-After": "5"}


def _http_error(exc: HTTPException):
    if isinstance(exc, RequestEntityTooLarge):
        limit = request.max_content_length or 0
        if request.content_length is not None and request.content_length <= limit:  # a form limit, not the size
            message = ("the form has too many parts or too large a text field; send one file in the multipart "
                       "field 'image'")
        else:
            message = f"the upload is larger than the {limit / 2**20:g} MB limit; choose a single 2-D MRI slice"
    else:
        message = f"{exc.code} {exc.name}: {exc.description}"
    body, status = _error_response(message, exc.code or 500)
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]  # e.g. 405's Allow
    return body, status, headers


def _unexpected_error(exc: Exception):
    current_app.logger.exception("unexpected error on %s", request.path)
    return _http_error(InternalServerError("the server could not analyse this request; try again later"))
