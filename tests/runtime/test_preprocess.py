"""The one preprocessing path: decode (gray/RGB/RGBA), limits, resize, scale."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tumorscope.runtime import preprocess as pp


def _encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def test_grayscale_png_becomes_three_equal_channels():
    gray = np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8)
    image = pp.decode_image(_encode(gray))
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], gray) and np.array_equal(image[..., 2], gray)


def test_colour_png_is_returned_in_rgb_order():
    bgr = np.zeros((16, 16, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's BGR
    image = pp.decode_image(_encode(bgr))
    assert image[0, 0].tolist() == [0, 0, 200]


def test_rgba_png_drops_alpha():
    bgra = np.full((16, 16, 4), 10, np.uint8)
    assert pp.decode_image(_encode(bgra)).shape == (16, 16, 3)


def test_sixteen_bit_png_is_stretched_to_uint8():
    deep = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 200).astype(np.uint16)
    image = pp.decode_image(_encode(deep))
    assert image.dtype == np.uint8 and image.max() == 255 and image.min() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is plain text, not a picture", "not a readable image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "not a readable image"),
    ],
)
def test_bad_bytes_give_one_line_errors_naming_the_input(data, message):
    with pytest.raises(pp.ImageError) as info:
        pp.decode_image(data, "scan.jpg")
    text = str(info.value)
    assert text.startswith("scan.jpg: ") and message in text and "\n" not in text


def test_truncated_jpeg_is_rejected(tmp_path):
    good = _encode(np.full((64, 64, 3), 128, np.uint8), ".jpg")
    path = tmp_path / "cut.jpg"
    path.write_bytes(good[: len(good) // 3])
    try:
        image = pp.load_image(path)
    except pp.ImageError as exc:
        assert str(exc).startswith(str(path))
    else:  # libjpeg may fill a truncated scan with grey; the result must still be a valid image
        assert image.shape == (64, 64, 3)


def test_missing_file_and_directory_errors(tmp_path):
    with pytest.raises(pp.ImageError, match="file not found"):
        pp.load_image(tmp_path / "nope.png")
    with pytest.raises(pp.ImageError, match="not a regular file"):
        pp.load_image(tmp_path)


def test_absurd_dimensions_are_refused_from_the_header_before_decoding():
    # A PNG header claiming 100000 x 100000 pixels; the body is never decoded.
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    with pytest.raises(pp.ImageError, match=r"100000x100000 pixels \(10000.0 MP\), over the 16.8 MP limit"):
        pp.decode_image(header + b"\x00" * 64, "huge.png")


def test_jpeg_header_size_is_read():
    data = _encode(np.zeros((40, 72, 3), np.uint8), ".jpg")
    assert pp._header_size(data) == (40, 72)


def test_tiny_images_are_refused():
    with pytest.raises(pp.ImageError, match="smaller than"):
        pp.decode_image(_encode(np.zeros((4, 4), np.uint8)), "dot.png")


def test_preprocess_shape_dtype_and_range():
    image = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    x = pp.preprocess(image, (128, 96))
    assert x.shape == (128, 96, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_preprocess_is_identity_scaling_at_input_size():
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(pp.preprocess(image, (32, 32)), image / 255.0, atol=1e-7)


def test_resize_rejects_non_rgb():
    with pytest.raises(ValueError, match="expected an"):
        pp.resize_to_input(np.zeros((8, 8), np.uint8), (4, 4))


def test_resize_mask_binary_and_probability():
    mask = np.zeros((256, 256), np.uint8)
    mask[64:192, 64:192] = 255
    small = pp.resize_mask(mask, (128, 128))
    assert small.dtype == np.uint8 and set(np.unique(small)) == {0, 1} and small.sum() == 64 * 64
    prob = pp.resize_mask(np.full((8, 8), 0.25, np.float32), (16, 16))
    assert prob.dtype == np.float32 and prob.shape == (16, 16) and np.allclose(prob, 0.25)
