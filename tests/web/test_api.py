"""JSON API, health check, bad inputs (API and HTML), security headers and error hygiene."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from conftest import TEST_UPLOAD_MB

from tumorscope import DISCLAIMER
from tumorscope.runtime import RESULT_KEYS, Pipeline

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _upload(data: bytes, name: str = "slice.png", field: str = "image") -> dict:
    return {field: (io.BytesIO(data), name)}


def test_api_predict_returns_the_predict_json_object(client, web_model_dir, slice_png):
    response = client.post("/api/predict", data=_upload(slice_png, "synthetic_slice.png"))
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert tuple(body) == RESULT_KEYS
    with Pipeline.from_model_dir(web_model_dir, backend="onnx") as pipe:
        expected = pipe.analyze_bytes(slice_png, "synthetic_slice.png").to_dict()
    assert {k: v for k, v in body.items() if k != "timings_ms"} == {
        k: v for k, v in expected.items() if k != "timings_ms"
    }
    assert body["error"] is None and body["disclaimer"] == DISCLAIMER
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=0.02)  # int8 output steps
    assert body["timings_ms"]["total"] > 0


def test_api_accepts_jpeg_whatever_its_extension(client, slice_jpeg):
    response = client.post("/api/predict", data=_upload(slice_jpeg, "scan.dat"))
    assert response.status_code == 200
    assert response.get_json()["image_size"] == [256, 256]


def test_api_accepts_dicom(client, slice_png):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("slice.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    pixels = cv2.imdecode(np.frombuffer(slice_png, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 4
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    response = client.post("/api/predict", data=_upload(buffer.getvalue(), "slice.dcm"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["image_size"] == [256, 256]


def _wide_png() -> bytes:
    ok, buffer = cv2.imencode(".png", np.zeros((4100, 4100), np.uint8))  # 16.8 MP + a bit: over the cap
    assert ok
    return buffer.tobytes()


BAD_INPUTS = {  # case: (upload arguments, expected message)
    "empty upload": ((b"", "empty.jpg"), "empty"),
    "no image field": ((b"\x89PNG\r\n\x1a\n", "x.png", "file"), "no file in the request"),
    "renamed text file": ((b"patient notes, not a picture\n" * 4, "notes.jpg"), "not a JPEG, PNG or DICOM"),
    "bmp renamed .png": ((cv2.imencode(".bmp", np.zeros((16, 16), np.uint8))[1].tobytes(), "scan.png"),
                         "not a JPEG, PNG or DICOM"),
    "corrupt jpeg": ((b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "broken.jpg"), "not a readable image"),
    "too large dimensions": ((_wide_png(), "wide.png"), "over the 16.8 MP limit"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_api_bad_input_is_400_with_a_one_line_json_error(client, case):
    upload, message = BAD_INPUTS[case]
    response = client.post("/api/predict", data=_upload(*upload))
    assert response.status_code == 400 and response.mimetype == "application/json"
    body = response.get_json()
    assert message in body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    assert body["disclaimer"] == DISCLAIMER


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_form_bad_input_is_400_with_the_upload_page_and_message(client, case):
    upload, message = BAD_INPUTS[case]
    response = client.post("/predict", data=_upload(*upload))
    assert response.status_code == 400 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'id="error"' in html and message in html and 'id="upload-form"' in html


def test_oversized_upload_is_413_json_on_api_and_html_on_form(client):
    payload = _upload(b"\xff\xd8\xff" + b"\0" * (TEST_UPLOAD_MB * 2**20 + 1024), "huge.jpg")
    api = client.post("/api/predict", data=payload)
    assert api.status_code == 413 and f"{TEST_UPLOAD_MB} MB limit" in api.get_json()["error"]
    payload = _upload(b"\xff\xd8\xff" + b"\0" * (TEST_UPLOAD_MB * 2**20 + 1024), "huge.jpg")
    page = client.post("/predict", data=payload)
    assert page.status_code == 413 and page.mimetype == "text/html"
    assert f"{TEST_UPLOAD_MB} MB limit" in page.get_data(as_text=True)


def test_healthz_reports_backend_and_both_models(client, web_model_dir):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["backend"] == "onnx" and body["max_upload_mb"] == TEST_UPLOAD_MB
    assert set(body["models"]) == {"classifier", "segmenter"}
    assert body["models"]["classifier"]["path"] == "classifier.int8.onnx"  # the file name, never the server's path
    assert str(web_model_dir) not in client.get("/healthz").get_data(as_text=True)
    assert body["models"]["segmenter"]["format"] == "onnx-int8"
    assert body["disclaimer"] == DISCLAIMER


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/"), ("get", "/healthz"), ("get", "/static/style.css"), ("get", "/nowhere"), ("post", "/api/predict")],
)
def test_security_headers_on_every_response(client, method, path):
    response = getattr(client, method)(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "img-src 'self' data:", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/nothing")
    assert response.status_code == 404 and "error" in response.get_json()


def test_unexpected_failure_is_a_generic_500_without_internals(app, client, slice_png, monkeypatch):
    def explode(data, name):
        raise KeyError("secret internal state /srv/models")

    monkeypatch.setattr(app.extensions["tumorscope"], "analyze", explode)
    response = client.post("/api/predict", data=_upload(slice_png))
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "secret" not in text and "Traceback" not in text and "KeyError" not in text
    assert response.get_json()["error"].startswith("500 Internal Server Error")
    page = client.post("/predict", data=_upload(slice_png))
    assert page.status_code == 500 and "secret" not in page.get_data(as_text=True)


def test_model_failure_after_decoding_is_500_not_blamed_on_the_upload(app, client, slice_png, monkeypatch):
    analyzer = app.extensions["tumorscope"]
    pipeline = analyzer._pipeline

    def broken_classify(image, *args):
        raise RuntimeError("/srv/models/classifier.int8.onnx: inference failed (bad kernel)")

    monkeypatch.setattr(pipeline.classifier, "classify", broken_classify)
    response = client.post("/api/predict", data=_upload(slice_png))
    assert response.status_code == 500
    assert "/srv/models" not in response.get_json()["error"]
