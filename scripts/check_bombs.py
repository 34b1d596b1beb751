"""Decompression bombs against `tumorscope predict` and `tumorscope serve`: time and peak memory.

Writes small files that declare huge images (a deflated 16384x16384 DICOM, an 8192x8192 16-bit RGBA PNG,
a 20000x20000 RLE BMP) plus two good slices into a temp folder, then:

1. runs ``tumorscope predict --json`` on the five files and checks 2 results + 3 one-line errors, with the
   child's wall time and peak RSS (``wait4``);
2. starts ``tumorscope serve`` and posts the DICOM bomb to ``/api/predict``: status, answer time, and the
   server's peak RSS (``VmHWM``); then stops it with SIGTERM and checks a clean exit.

    python scripts/check_bombs.py --model-dir models          # prints one JSON object; exit 1 if a goal fails

The generators are also used by the tests (tests/runtime/test_bombs.py). Research and education only,
not for clinical diagnosis.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOALS = {"predict_peak_rss_mb": 600, "predict_wall_s": 10, "web_answer_s": 5, "web_peak_rss_mb": 1024}
"""The issue's "done when" limits (2-core machine)."""
_CHUNK = 1 << 20


def _deflate_repeated(prefix: bytes, block: bytes, count: int, zlib_wrapped: bool = False) -> bytes:
    """Deflate ``prefix + block * count`` fast and in little memory.

    After a full flush the compressor starts afresh, so every copy of ``block`` compresses to the same
    bytes: compress it once and repeat them. ``zlib_wrapped`` adds the zlib header and Adler-32 (PNG).
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    one = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH) if count else b""
    body = head + one * count + packer.flush()
    if not zlib_wrapped:
        return body
    checksum = zlib.adler32(prefix)
    for _ in range(count):
        checksum = zlib.adler32(block, checksum)
    return b"\x78\xda" + body + struct.pack(">I", checksum)


def deflated_dicom(side: int = 16384, frames: int = 1, declared: int | None = None) -> bytes:
    """A deflated explicit-VR DICOM of ``side`` x ``side`` 16-bit zero pixels (``frames`` of them).

    ``declared``: the Rows/Columns written in the header when they should lie about the data (default ``side``).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MRImageStorage, meta.MediaStorageSOPInstanceUID, "MR"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows = ds.Columns = declared or side
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    rows_per_block = max(1, _CHUNK // (side * 2))
    count, rest = divmod(side * frames, rows_per_block)
    header = body.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, side * side * 2 * frames)
    deflated = _deflate_repeated(header, bytes(side * 2 * rows_per_block), count)
    if rest:  # the last rows: deflate them after the rest (rarely needed: sides are powers of two here)
        deflated = zlib.compress(zlib.decompress(deflated, -zlib.MAX_WBITS) + bytes(side * 2 * rest), wbits=-15)
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue() + deflated


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def rgba16_png(side: int = 8192) -> bytes:
    """A valid ``side`` x ``side`` 16-bit RGBA PNG, all zero (``side**2 * 8`` bytes once decoded)."""
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    idat = _deflate_repeated(b"", bytes(1 + side * 8), side, zlib_wrapped=True)  # per row: filter byte + RGBA16 pixels
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def rle_bmp(side: int = 20000) -> bytes:
    """An 8-bit RLE BMP declaring ``side`` x ``side`` whose data is only "end of bitmap" (about 1 KB)."""
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    pixels = b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def tiff_header(width: int, height: int) -> bytes:
    """A little-endian TIFF declaring ``width`` x ``height`` 8-bit grayscale, one strip of zeros (uncompressed)."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 8 + 4), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, width * height)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
    return b"II*\0" + struct.pack("<I", 8) + ifd + bytes(min(width * height, 4096))


def webp_header(width: int, height: int) -> bytes:
    """The start of an extended (VP8X) WebP declaring a ``width`` x ``height`` canvas."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0" * 4 + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x) + 64) + b"WEBP" + vp8x + b"\0" * 64


def _good_slices(folder: Path) -> list[Path]:
    import cv2

    png = REPO / "examples" / "synthetic_slice.png"
    jpeg = folder / "good.jpg"
    cv2.imwrite(str(jpeg), cv2.imread(str(png)))
    good = folder / "good.png"
    good.write_bytes(png.read_bytes())
    return [good, jpeg]


def _bomb_files(folder: Path) -> list[Path]:
    files = {"bomb.dcm": deflated_dicom(16384), "bomb.png": rgba16_png(8192), "bomb.bmp": rle_bmp(20000)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def post_upload(url: str, data: bytes, name: str = "slice.png", timeout: float = 60) -> tuple[int, bytes]:
    """POST ``data`` as the multipart ``image`` field; returns the HTTP status and body (errors too)."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=None, help="models folder (default: the usual lookup)")
    args = parser.parse_args(argv)
    report: dict = {"goals": GOALS}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        good, bombs = _good_slices(folder), _bomb_files(folder)
        report["bomb_bytes"] = {p.name: p.stat().st_size for p in bombs}
        cmd = [sys.executable, "-m", "tumorscope.cli", "predict", "--json", *map(str, good + bombs)]
        if args.model_dir:
            cmd[4:4] = ["--model-dir", args.model_dir]
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout = child.stdout.read()
        child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        rows = json.loads(stdout)
        report["predict"] = {
            "results": sum(r["error"] is None for r in rows),
            "errors": [r["error"] for r in rows if r["error"] is not None],
            "exit_code": os.waitstatus_to_exitcode(status),
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }
        serve = [sys.executable, "-m", "tumorscope.cli", "serve", "--port", "0"]
        if args.model_dir:
            serve += ["--model-dir", args.model_dir]
        server = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            url = server.stdout.readline().split(" on ", 1)[1].split()[0]
            idle_mb = _peak_rss_mb(server.pid)
            start = time.perf_counter()
            code, body = post_upload(url + "api/predict", bombs[0].read_bytes(), "bomb.dcm")
            answer = time.perf_counter() - start
            report["web"] = {"status": code, "error": json.loads(body).get("error"), "answer_s": round(answer, 2),
                             "peak_rss_mb": round(_peak_rss_mb(server.pid), 1), "idle_peak_rss_mb": round(idle_mb, 1)}
        finally:
            server.send_signal(signal.SIGTERM)
            start = time.perf_counter()
            try:
                report.setdefault("web", {})["exit_code_on_sigterm"] = server.wait(timeout=120)
            except subprocess.TimeoutExpired:
                server.kill()
                report.setdefault("web", {})["exit_code_on_sigterm"] = f"still running after 120 s: {server.wait()}"
            report["web"]["exit_s_after_sigterm"] = round(time.perf_counter() - start, 2)
    p, w = report["predict"], report["web"]
    report["passed"] = bool(
        p["results"] == 2 and len(p["errors"]) == 3 and all("\n" not in e for e in p["errors"])
        and p["peak_rss_mb"] <= GOALS["predict_peak_rss_mb"] and p["wall_s"] <= GOALS["predict_wall_s"]
        and 400 <= w["status"] < 500 and w["answer_s"] <= GOALS["web_answer_s"]
        and w["peak_rss_mb"] < GOALS["web_peak_rss_mb"] and w["exit_code_on_sigterm"] == 0
    )
    print(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
