"""Typed runtime errors (decode, input, model) and the one formatter that puts any error on one line.

- ``DecodeError`` (``ImageError``): a file or byte string that cannot be decoded into an image.
- ``InputError``: a decoded image the models cannot use (e.g. a float array, a 4-channel shape).
- ``ModelError``: the backend cannot load or run a model.

``one_line`` is what the CLI, the web app and batch outputs print; ``ErrorMessage`` is the one-line
message of a failed analysis together with its kind (``Analysis.error``).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ERROR_KINDS",
    "ErrorKind",
    "DecodeError",
    "ImageError",
    "InputError",
    "ModelError",
    "ErrorMessage",
    "error_kind",
    "one_line",
]

ErrorKind = Literal["decode", "input", "model"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("decode", "input", "model")
ONE_LINE_LIMIT = 400
"""Longest one-line message; longer ones end in ``...``."""


class DecodeError(ValueError):
    """An input that cannot be decoded into an image; the message names the input and the fix."""


ImageError = DecodeError
"""The historical name of ``DecodeError``."""


class InputError(ValueError):
    """A decoded image that the models cannot take (wrong dtype or shape); the message says what is expected."""


class ModelError(RuntimeError):
    """A model that cannot be loaded or run by its backend; the message names the file."""


def one_line(error: BaseException | str, limit: int | None = ONE_LINE_LIMIT) -> str:
    """``error`` as one line: white space (newlines included) folded, the exception's type name when empty,
    cut to ``limit`` characters (None: no cut)."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        text = type(error).__name__
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def error_kind(error: BaseException) -> ErrorKind:
    """``decode`` for ``DecodeError``, ``model`` for ``ModelError`` and other RuntimeErrors, else ``input``."""
    if isinstance(error, DecodeError):
        return "decode"
    if isinstance(error, RuntimeError):
        return "model"
    return "input"


class ErrorMessage(str):
    """A one-line error message (a ``str``) that also says which stage failed.

    Attributes:
        kind: ``decode`` (the input could not be decoded), ``input`` (the decoded image is unusable) or
            ``model`` (a model failed to run).
    """

    kind: ErrorKind

    def __new__(cls, text: str | BaseException, kind: ErrorKind = "input") -> ErrorMessage:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}; expected one of {', '.join(ERROR_KINDS)}")
        message = super().__new__(cls, one_line(text))
        message.kind = kind
        return message

    @classmethod
    def of(cls, error: BaseException, name: str | None = None) -> ErrorMessage:
        """The message of ``error`` with its kind, prefixed with ``name: `` unless it already starts with it."""
        text = one_line(error)
        if name is not None and not text.startswith(name):
            text = f"{name}: {text}"
        return cls(text, error_kind(error))

    def __repr__(self) -> str:
        return f"ErrorMessage({str(self)!r}, kind={self.kind!r})"
