"""Routes: the upload page, the HTML result, the JSON API and the health check. Thin shells over the Analyzer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import InternalServerError

from tumorscope import __version__
from tumorscope.runtime import Analysis
from tumorscope.web.present import result_view
from tumorscope.web.service import Analyzer
from tumorscope.web.uploads import UploadError, read_upload

__all__ = ["bp"]

bp = Blueprint("web", __name__)


def _analyzer() -> Analyzer:
    return current_app.extensions["tumorscope"]


def _analyze_upload() -> Analysis:
    """Analyze the uploaded image; UploadError (400) when it cannot be decoded, 500 when the models fail.

    Call it inside ``Analyzer.slot()``: decoding and analysis are what the concurrency bound limits.
    """
    data, name = read_upload(request.files)
    analysis = _analyzer().analyze(data, name)
    if analysis.ok:
        return analysis
    if analysis.error.kind != "model":  # the upload cannot be decoded or used: corrupt, too large, bad DICOM
        raise UploadError(str(analysis.error))
    current_app.logger.error("analysis failed: %s", analysis.error)
    raise InternalServerError("the models could not analyse this image; try again later")


@bp.get("/")
def index():
    return render_template("index.html")


@bp.post("/predict")
def predict():
    with _analyzer().slot():
        view = result_view(_analyze_upload())
    return render_template("result.html", result=view)


@bp.get("/predict")
def predict_get():
    return redirect(url_for("web.index"))


@bp.post("/api/predict")
def api_predict():
    with _analyzer().slot():
        result = _analyze_upload().to_dict()
    return jsonify(result)


@bp.get("/healthz")
def healthz():
    """Liveness plus what is loaded: backend, providers, threads, both models' file names (never the server's
    paths) and specs."""
    return jsonify(status="ok", version=__version__, max_upload_mb=current_app.config["TUMORSCOPE_MAX_UPLOAD_MB"],
                   **_analyzer().describe())
