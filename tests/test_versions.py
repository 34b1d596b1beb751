"""Installed-version lookup from package metadata."""

from __future__ import annotations

from importlib import metadata

from tumorscope.versions import installed_versions


def test_first_installed_distribution_wins_and_missing_is_none():
    versions = installed_versions({"numpy": ("no-such-dist-xyz", "numpy"), "ghost": ("no-such-dist-xyz",)})
    assert versions == {"numpy": metadata.version("numpy"), "ghost": None}
