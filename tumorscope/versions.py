"""Installed package versions read from metadata (nothing is imported); a stdlib-only leaf."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import metadata

__all__ = ["installed_versions"]


def installed_versions(table: Mapping[str, Sequence[str]]) -> dict[str, str | None]:
    """``{name: version}`` for ``{name: distribution names tried in order}``; None when none is installed."""
    versions: dict[str, str | None] = {}
    for name, distributions in table.items():
        versions[name] = None
        for distribution in distributions:
            try:
                versions[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions
