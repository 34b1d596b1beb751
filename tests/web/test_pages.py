"""HTML pages: the upload form (works without JavaScript) and the result page."""

from __future__ import annotations

import base64
import io
import re

import cv2
import numpy as np
import pytest

from tumorscope import DISCLAIMER


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, f"no element with id={element_id!r}"
    return match.group(1).strip()


def test_upload_page_is_a_plain_multipart_form_with_a_labelled_file_input(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    form = re.search(r"<form[^>]*>", html).group(0)
    assert 'method="post"' in form and 'action="/predict"' in form and 'enctype="multipart/form-data"' in form
    assert re.search(r'<input type="file" id="image" name="image"', html)
    assert '<label class="dropzone-label" for="image">' in html
    assert 'accept=".jpg,.jpeg,.png,.dcm' in html
    assert DISCLAIMER in html and '<html lang="en">' in html


def test_pages_have_no_inline_scripts_styles_or_external_resources(client):
    html = client.get("/").get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/upload.js" defer>']
    assert " style=" not in html and "<style" not in html and not re.search(r"\son[a-z]+=", html)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for asset in ("/static/upload.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200 and b"http" not in response.data.replace(b"https://", b"")


def test_result_page_shows_class_confidences_images_area_time_and_disclaimer(client, slice_png):
    api = client.post("/api/predict", data={"image": (io.BytesIO(slice_png), "synthetic_slice.png")}).get_json()
    response = client.post("/predict", data={"image": (io.BytesIO(slice_png), "synthetic_slice.png")})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert _text(html, "predicted-class") == api["label"]
    assert float(_text(html, "tumor-area")) == pytest.approx(api["tumor_area_pct"], abs=0.006)
    assert float(_text(html, "confidence")) == pytest.approx(100 * api["confidence"], abs=0.06)
    assert float(_text(html, "inference-time")) > 0
    meters = re.findall(r'<meter class="bar-meter" min="0" max="1" value="([0-9.e-]+)"', html)
    assert [float(v) for v in meters] == pytest.approx(list(api["probabilities"].values()), abs=1e-6)
    assert DISCLAIMER in html
    images = dict(re.findall(r'<img id="([a-z-]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html))
    assert set(images) == {"original-image", "overlay-image", "explanation-image"}
    original = cv2.imdecode(np.frombuffer(base64.b64decode(images["original-image"]), np.uint8), cv2.IMREAD_COLOR)
    overlay = cv2.imdecode(np.frombuffer(base64.b64decode(images["overlay-image"]), np.uint8), cv2.IMREAD_COLOR)
    assert original.shape == (256, 256, 3) and overlay.shape[1] == 256 and overlay.shape[0] > 256  # + legend
    assert len(re.findall(r'<img [^>]*alt="[^"]{10,}"', html)) == 3


def test_result_images_of_large_uploads_are_shrunk_for_display(client, slice_png):
    big = cv2.resize(cv2.imdecode(np.frombuffer(slice_png, np.uint8), cv2.IMREAD_GRAYSCALE), (1024, 768))
    html = client.post("/predict", data={"image": (io.BytesIO(cv2.imencode(".png", big)[1].tobytes()), "big.png")})
    src = re.search(r'id="original-image" src="data:image/png;base64,([^"]+)"', html.get_data(as_text=True)).group(1)
    shown = cv2.imdecode(np.frombuffer(base64.b64decode(src), np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == (384, 512, 3)


def test_uploaded_file_name_is_sanitized_and_escaped(client, slice_png):
    html = client.post("/predict", data={"image": (io.BytesIO(slice_png), '<img src=x onerror="alert(1)">.png')})
    text = html.get_data(as_text=True)
    assert html.status_code == 200 and "<img src=x" not in text and "onerror=\"" not in text


def test_get_predict_redirects_to_the_upload_page(client):
    response = client.get("/predict")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_tflite_backend_serves_the_same_pages(web_model_dir, slice_png):
    from tumorscope.web import create_app

    client = create_app(web_model_dir, backend="tflite").test_client()
    assert client.get("/healthz").get_json()["models"]["classifier"]["format"] == "tflite-int8"
    html = client.post("/predict", data={"image": (io.BytesIO(slice_png), "s.png")}).get_data(as_text=True)
    assert _text(html, "predicted-class") in ("glioma", "meningioma", "notumor", "pituitary")
    assert "tflite backend" in html
