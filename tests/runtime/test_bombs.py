"""Decompression bombs and the one pixel cap: every format's declared size is refused from its header
before decoding, in little memory; normal slices decode exactly as before; JPEG reduced decoding.

The bomb files are generated here (scripts/check_bombs.py), a few hundred KB each; none is committed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope import MAX_IMAGE_PIXELS
from tumorscope.runtime import preprocess as pp

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_bombs.py"


@pytest.fixture(scope="module")
def bombs():
    spec = importlib.util.spec_from_file_location("check_bombs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _in_child(script: str) -> dict:
    """Run ``script`` in a fresh interpreter; it prints one JSON object as its last line."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                            timeout=600, cwd=REPO)  # imports can crawl on a loaded 2-core machine
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_cap_is_below_the_old_8192_squared_and_handed_to_opencv():
    assert 512 * 512 < MAX_IMAGE_PIXELS < 8192 * 8192
    out = _in_child("""
        import json, os
        import tumorscope.runtime  # sets OPENCV_IO_MAX_IMAGE_PIXELS before cv2 is first imported
        import cv2, numpy as np, struct, zlib
        side = 5000  # over the cap: OpenCV itself must refuse it from the header, before allocating
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
        chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
        png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(side + 1)))
        try:
            cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
            refused = ""
        except cv2.error as exc:
            refused = str(exc)
        print(json.dumps({"env": os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"], "refused": refused}))
    """)
    assert out["env"] == str(MAX_IMAGE_PIXELS)
    assert "CV_IO_MAX_IMAGE_PIXELS" in out["refused"]


def test_every_bomb_is_refused_from_its_header_fast_and_in_little_memory(bombs):
    """Each bomb would take 0.4-1.2 GB decoded; refusing it must cost under 40 MB and 1 s."""
    out = _in_child(f"""
        import importlib.util, json, resource, time
        spec = importlib.util.spec_from_file_location("check_bombs", {str(SCRIPT)!r})
        bombs = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bombs)
        from tumorscope.runtime.preprocess import ImageError, decode_image
        files = {{
            "dicom 16384^2 deflated": bombs.deflated_dicom(16384),
            "dicom 1000 frames deflated": bombs.deflated_dicom(512, frames=1000),
            "png 8192^2 16-bit RGBA": bombs.rgba16_png(8192),
            "bmp 20000^2 RLE": bombs.rle_bmp(20000),
            "tiff 20000^2": bombs.tiff_header(20000, 20000),
            "webp 16000^2": bombs.webp_header(16000, 16000),
        }}
        decode_image(bombs.rle_bmp(64), "warm-up")  # imports and first-call allocations out of the measure
        rows = {{}}
        for name, data in files.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.perf_counter()
            try:
                decode_image(data, name)
                error = None
            except ImageError as exc:
                error = str(exc)
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            rows[name] = {{"bytes": len(data), "error": error, "s": time.perf_counter() - start, "mb": grown}}
        print(json.dumps(rows))
    """)
    for name, row in out.items():
        assert row["bytes"] < 1_000_000, name  # small on disk
        assert row["error"] is not None and row["error"].startswith(name + ": "), (name, row)
        assert "\n" not in row["error"]
        assert row["s"] < 1.0 and row["mb"] < 40, (name, row)
    assert "frames" in out["dicom 1000 frames deflated"]["error"]
    for name in ("dicom 16384^2 deflated", "png 8192^2 16-bit RGBA", "bmp 20000^2 RLE", "tiff 20000^2"):
        assert "over the 16.8 MP limit" in out[name]["error"], name


def test_a_deflated_dicom_that_holds_more_than_its_header_declares_is_refused(bombs):
    pytest.importorskip("pydicom")
    data = bombs.deflated_dicom(4096, declared=512)  # says 512x512, inflates to 4096x4096x2 bytes
    with pytest.raises(pp.ImageError, match="inflates to more than .* more than its header declares"):
        pp.decode_image(data, "liar.dcm")


def test_a_deflated_dicom_within_the_cap_still_decodes(bombs):
    pytest.importorskip("pydicom")
    image = pp.decode_image(bombs.deflated_dicom(640), "ok.dcm")
    assert image.shape == (640, 640, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tiff", ".webp"])
@pytest.mark.parametrize("shape", [(224, 224), (512, 512, 3), (300, 256)])
def test_typical_slices_decode_exactly_as_opencv_does(ext, shape):
    """The header checks change nothing for ordinary slices: same pixels as a plain imdecode."""
    rng = np.random.default_rng(sum(shape))
    image = np.zeros(shape, np.uint8)
    cv2.circle(image, (shape[1] // 2, shape[0] // 2), min(shape[:2]) // 3, (140, 120, 100), -1)
    image = np.clip(image.astype(np.int16) + rng.integers(0, 40, shape), 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    data = buffer.tobytes()
    assert pp._header_size(data) == shape[:2]
    plain = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    want = cv2.cvtColor(plain, cv2.COLOR_GRAY2RGB if plain.ndim == 2 else cv2.COLOR_BGR2RGB)
    got = pp.decode_image(data, "slice" + ext)
    assert np.array_equal(got, want)
    np.testing.assert_array_equal(pp.preprocess(got, (128, 128)), pp.preprocess(want, (128, 128)))


def test_a_baseline_jpeg_over_the_cap_is_decoded_straight_at_a_reduced_scale():
    height, width = 4100, 8200  # 33.6 MP: 1/2 scale is 2050 x 4100 (8.4 MP)
    image = np.zeros((height, width, 3), np.uint8)
    cv2.rectangle(image, (2000, 1000), (6000, 3000), (200, 200, 200), -1)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    got = pp.decode_image(buffer.tobytes(), "wide.jpg")
    assert got.shape == (height // 2, width // 2, 3)
    assert got[1000, 2000].tolist() == pytest.approx([200, 200, 200], abs=8)


def test_a_progressive_jpeg_over_the_cap_is_refused_not_reduced():
    image = np.zeros((4100, 8200, 3), np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    with pytest.raises(pp.ImageError, match="over the 16.8 MP limit"):
        pp.decode_image(buffer.tobytes(), "progressive.jpg")


def test_formats_outside_the_list_are_refused_before_opencv_sees_them():
    ok, buffer = cv2.imencode(".pgm", np.zeros((64, 64), np.uint8))  # OpenCV could decode it: we do not
    assert ok
    with pytest.raises(pp.ImageError, match="not a readable image .* JPEG, PNG, BMP, TIFF, WebP or DICOM"):
        pp.decode_image(buffer.tobytes(), "x.pgm")


def test_file_names_with_newlines_stay_on_one_line(tmp_path):
    path = tmp_path / "bad\nname.png"
    path.write_bytes(b"")
    with pytest.raises(pp.ImageError) as info:
        pp.load_image(path)
    text = str(info.value)
    assert "\n" not in text and "bad\\nname.png: file is empty" in text
    assert pp.printable_name("a\tb\x1bc\u00e9") == "a\\tb\\x1bc\u00e9"  # control characters only


def test_an_all_black_image_decodes_and_preprocesses():
    ok, buffer = cv2.imencode(".png", np.zeros((256, 256), np.uint8))
    image = pp.decode_image(buffer.tobytes(), "black.png")
    x = pp.preprocess(image, (128, 128))
    assert x.shape == (128, 128, 3) and float(x.max()) == 0.0


@pytest.mark.parametrize("params", [[cv2.IMWRITE_WEBP_QUALITY, 101], [cv2.IMWRITE_WEBP_QUALITY, 50]])
def test_webp_lossless_and_lossy_headers_give_the_size(params):
    ok, buffer = cv2.imencode(".webp", np.full((40, 72, 3), 90, np.uint8), params)
    assert ok
    assert buffer.tobytes()[12:16] in (b"VP8 ", b"VP8L")
    assert pp._header_size(buffer.tobytes()) == (40, 72)
