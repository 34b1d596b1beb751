"""Read one uploaded file from a request and check by its magic bytes that it is JPEG, PNG or DICOM."""

from __future__ import annotations

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.utils import secure_filename

from tumorscope.runtime.preprocess import is_dicom

__all__ = ["UPLOAD_FIELD", "UploadError", "sniff_format", "read_upload"]

UPLOAD_FIELD = "image"
"""Multipart field name of the uploaded image (form and JSON API)."""

_SIGNATURES = (("JPEG", b"\xff\xd8\xff"), ("PNG", b"\x89PNG\r\n\x1a\n"))
_ACCEPTED = "a JPEG, PNG or DICOM MRI slice"


class UploadError(ValueError):
    """An upload that cannot be analysed; the message says what was received and what is expected."""


def sniff_format(data: bytes) -> str | None:
    """``"JPEG"``, ``"PNG"`` or ``"DICOM"`` from the leading bytes, None for anything else (whatever its name)."""
    for name, magic in _SIGNATURES:
        if data.startswith(magic):
            return name
    return "DICOM" if is_dicom(data) else None


def read_upload(files: MultiDict[str, FileStorage]) -> tuple[bytes, str]:
    """Return ``(content, safe file name)`` of the ``image`` field of a multipart request.

    Raises:
        UploadError: the field is missing, no file was chosen, the file is empty or not JPEG/PNG/DICOM.
    """
    upload = files.get(UPLOAD_FIELD)
    if upload is None:
        raise UploadError(f"no file in the request: send {_ACCEPTED} in the multipart field {UPLOAD_FIELD!r}")
    name = secure_filename(upload.filename or "") or "upload"
    data = upload.read()
    if not data:
        raise UploadError(f"{name}: the file is empty (0 bytes); choose {_ACCEPTED}")
    if sniff_format(data) is None:
        raise UploadError(f"{name}: the content is not a JPEG, PNG or DICOM image (checked by its bytes, "
                          f"not its name); choose {_ACCEPTED}")
    return data, name
