"""DICOM decoding: rescale, window (file or percentile), MONOCHROME1, errors; built with pydicom in a temp dir."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tumorscope.runtime.dicom import decode_dicom, window_to_uint8
from tumorscope.runtime.preprocess import ImageError, decode_image

pydicom = pytest.importorskip("pydicom")


def _dicom_bytes(tmp_path, pixels: np.ndarray, **tags) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path / "slice.dcm"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MRImageStorage, meta.MediaStorageSOPInstanceUID, "MR"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = tags.pop("PhotometricInterpretation", "MONOCHROME2")
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


def _ramp() -> np.ndarray:
    return np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)  # 0 .. 4095


def test_window_from_the_file_after_rescale(tmp_path):
    data = _dicom_bytes(tmp_path, _ramp(), RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=1000, WindowWidth=2000)
    gray = decode_dicom(data, "slice.dcm")
    values = _ramp().astype(np.float64) * 2 - 1000  # window [0, 2000]
    expected = np.round(np.clip(values / 2000.0, 0, 1) * 255).astype(np.uint8)
    assert gray.shape == (64, 64) and gray.dtype == np.uint8
    assert np.array_equal(gray, expected)


def test_multi_valued_window_uses_the_first(tmp_path):
    data = _dicom_bytes(tmp_path, _ramp(), WindowCenter=[2048, 100], WindowWidth=[4096, 50])
    gray = decode_dicom(data)
    assert gray[0, 0] == 0 and gray[-1, -1] == 255 and 120 < gray[32, 0] < 135


def test_percentile_window_without_window_tags(tmp_path):
    pixels = _ramp()
    pixels[0, 0] = 60000  # one hot outlier must not squash the contrast
    gray = decode_dicom(_dicom_bytes(tmp_path, pixels))
    assert gray[0, 0] == 255
    assert gray[0, 1] == 0 and gray[-1, -1] == 255
    assert 100 < gray[32, 32] < 155, "the middle of the ramp stays mid-gray"


def test_monochrome1_is_inverted(tmp_path):
    plain = decode_dicom(_dicom_bytes(tmp_path, _ramp()))
    inverted = decode_dicom(_dicom_bytes(tmp_path, _ramp(), PhotometricInterpretation="MONOCHROME1"))
    assert np.array_equal(inverted, 255 - plain)


def test_decode_image_dispatches_dicom_to_rgb(tmp_path):
    image = decode_image(_dicom_bytes(tmp_path, _ramp()), "slice.dcm")
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], image[..., 2])


def test_broken_dicom_and_missing_pydicom_are_one_line_image_errors(tmp_path, monkeypatch):
    data = _dicom_bytes(tmp_path, _ramp())
    with pytest.raises(ImageError, match="cannot read DICOM") as info:
        decode_dicom(data[: len(data) // 2], "cut.dcm")
    assert "\n" not in str(info.value) and str(info.value).startswith("cut.dcm")
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImageError, match=r"pip install tumorscope\[dicom\]"):
        decode_image(data, "slice.dcm")


def test_constant_slice_is_black():
    assert not window_to_uint8(np.full((8, 8), 7.0)).any()
