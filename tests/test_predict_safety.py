"""`tumorscope predict` never loses user data: overlays never overwrite an input and are written atomically,
earlier overlays are not taken as inputs, nothing lands next to the inputs unasked, any per-item failure
(memory included) is that item's one-line error, file names with newlines stay on one line, and an
all-black image analyses without crashing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tumorscope.cli import main
from tumorscope.predict import expand_inputs
from tumorscope.runtime import Pipeline


def _png(path: Path, size: tuple[int, int] = (96, 96), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    gray = np.zeros(size, np.uint8)
    cv2.circle(gray, (size[1] // 2, size[0] // 2), min(size) // 3, 120, -1)
    cv2.imwrite(str(path), np.clip(gray + rng.integers(0, 30, size), 0, 255).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def model_dir(tiny_exports) -> Path:
    return tiny_exports["classifier"]["onnx-int8"].parent


def _predict(model_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["predict", *args, "--model-dir", str(model_dir)])
    return result.exit_code, result.stdout


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_overlay_dir_equal_to_the_input_folder_never_overwrites_an_input(model_dir, tmp_path):
    _png(tmp_path / "a.png", seed=1)
    _png(tmp_path / "a.overlay.png", seed=2)  # a user's file that happens to carry the overlay name
    before = _snapshot(tmp_path)
    code, out = _predict(model_dir, str(tmp_path / "a.png"), str(tmp_path / "a.overlay.png"), "--json",
                         "--overlay-dir", str(tmp_path))
    assert code == 0, out
    rows = json.loads(out)
    assert [Path(r["overlay"]).name for r in rows] == ["a-2.overlay.png", "a.overlay.overlay.png"]
    after = _snapshot(tmp_path)
    assert {k: after[k] for k in before} == before  # every input byte-for-byte intact
    assert sorted(after) == sorted([*before, "a-2.overlay.png", "a.overlay.overlay.png"])  # no temp files left
    code, out = _predict(model_dir, str(tmp_path / "a.png"), "--json", "--overlay-dir", str(tmp_path))
    assert code == 0 and Path(json.loads(out)[0]["overlay"]).name == "a-2.overlay.png"  # our own file: replaced
    assert (tmp_path / "a.overlay.png").read_bytes() == before["a.overlay.png"]  # not an input now, still kept
    assert oct((tmp_path / "a-2.overlay.png").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_reruns_do_not_take_earlier_overlays_as_inputs(model_dir, tmp_path):
    """Earlier overlays carry tumorscope's PNG text mark: skipped as inputs, replaced in place."""
    _png(tmp_path / "scan.png")
    for _ in range(2):
        code, out = _predict(model_dir, str(tmp_path), "--json", "--overlay-dir", str(tmp_path))
        assert code == 0, out
        assert [Path(r["path"]).name for r in json.loads(out)] == ["scan.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.overlay.png", "scan.png"]
    assert [p for p, _ in expand_inputs([str(tmp_path / "*.png")])] == [str(tmp_path / "scan.png")]
    only_overlays = tmp_path / "o"
    only_overlays.mkdir()
    (tmp_path / "scan.overlay.png").rename(only_overlays / "scan.overlay.png")
    [(path, error)] = expand_inputs([str(only_overlays)])
    assert "no image files" in error and "overlay" in error


def test_without_overlay_dir_nothing_is_written_next_to_the_inputs(model_dir, tmp_path):
    _png(tmp_path / "a.png")
    before = _snapshot(tmp_path)
    code, out = _predict(model_dir, str(tmp_path), "--json")
    assert code == 0, out
    assert _snapshot(tmp_path) == before


def test_any_exception_on_one_input_is_its_one_line_error_and_the_others_still_come_out(
        model_dir, tmp_path, monkeypatch):
    paths = [str(_png(tmp_path / f"{n}.png", seed=n)) for n in range(3)]
    real = Pipeline.analyze_path

    def flaky(self, path):
        if str(path) == paths[1]:
            raise MemoryError("cannot allocate 7.9 GiB")
        if str(path) == paths[2]:
            raise KeyError("surprise\nsecond line")
        return real(self, path)

    monkeypatch.setattr(Pipeline, "analyze_path", flaky)
    code, out = _predict(model_dir, *paths, str(_png(tmp_path / "last.png", seed=9)), "--json")
    assert code == 1
    rows = json.loads(out)
    assert [r["error"] is None for r in rows] == [True, False, False, True]
    assert rows[1]["error"].startswith(paths[1] + ": out of memory (cannot allocate 7.9 GiB)")
    assert rows[2]["error"].startswith(paths[2] + ": unexpected KeyError") and "\n" not in rows[2]["error"]
    assert rows[3]["label"] is not None


def test_a_file_name_with_a_newline_keeps_its_error_on_one_line(model_dir, tmp_path):
    bad = tmp_path / "evil\nname.png"
    bad.write_bytes(b"not an image")
    good = _png(tmp_path / "good.png")
    code, out = _predict(model_dir, str(bad), str(good))
    assert code == 1
    lines = out.splitlines()
    [line] = [x for x in lines if "evil" in x]
    assert "evil\\nname.png" in line and "not a readable image" in line
    assert not [x for x in lines if x.startswith("name.png")]  # the name's tail did not start a line
    code, out = _predict(model_dir, str(bad), "--json")
    [row] = json.loads(out)
    assert row["path"] == str(bad) and "\n" not in row["error"] and "evil\\nname.png" in row["error"]


def test_an_all_black_image_does_not_crash_anything(model_dir, tmp_path):
    black = tmp_path / "black.png"
    cv2.imwrite(str(black), np.zeros((256, 256), np.uint8))
    code, out = _predict(model_dir, str(black), "--json", "--overlay-dir", str(tmp_path / "o"))
    assert code == 0, out
    [row] = json.loads(out)
    assert row["error"] is None and row["label"] is not None and row["tumor_area_brain_pct"] is None
    assert cv2.imread(row["overlay"]).shape[1] == 256
