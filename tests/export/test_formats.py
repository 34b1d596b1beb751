from __future__ import annotations

from pathlib import Path

import pytest

from tumorscope.export.formats import (
    DEPLOY_FORMAT_NAMES,
    EXPORT_FORMAT_NAMES,
    FORMAT_NAMES,
    FORMATS,
    artifact_path,
    get_format,
    parse_formats,
)


def test_table_has_the_seven_formats_with_distinct_suffixes():
    assert FORMAT_NAMES == ("keras", "onnx", "onnx-int8", "tflite", "tflite-fp16", "tflite-dynamic", "tflite-int8")
    assert len({f.suffix for f in FORMATS}) == len(FORMATS)
    assert EXPORT_FORMAT_NAMES == FORMAT_NAMES[1:]
    assert set(DEPLOY_FORMAT_NAMES) <= set(EXPORT_FORMAT_NAMES)
    for fmt in FORMATS:
        assert fmt.backend in ("keras", "onnx", "tflite")
        assert fmt.suffix.endswith({"keras": ".keras", "onnx": ".onnx", "tflite": ".tflite"}[fmt.backend])
        assert fmt.calibrated == (fmt.quantization == "int8")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("onnx", "classifier.onnx"), ("onnx-int8", "classifier.int8.onnx"), ("tflite", "classifier.tflite"),
     ("tflite-fp16", "classifier.fp16.tflite"), ("tflite-dynamic", "classifier.dynamic.tflite"),
     ("tflite-int8", "classifier.int8.tflite")],
)
def test_artifact_path_is_stem_plus_suffix_in_out_dir(name, expected):
    assert artifact_path("runs/x/classifier.keras", name, "models") == Path("models") / expected


def test_parse_formats_accepts_lists_strings_and_all():
    assert [f.name for f in parse_formats("onnx-int8, tflite-int8")] == ["onnx-int8", "tflite-int8"]
    assert [f.name for f in parse_formats(["tflite", "onnx", "tflite"])] == ["tflite", "onnx"]
    assert [f.name for f in parse_formats(None)] == list(EXPORT_FORMAT_NAMES)
    assert parse_formats("all") == parse_formats(None)
    assert get_format(get_format("onnx")) is get_format("onnx")


@pytest.mark.parametrize("bad", ["onnx-int4", "", " , "])
def test_parse_formats_rejects_unknown_or_empty(bad):
    with pytest.raises(ValueError, match="choose from keras, onnx"):
        parse_formats(bad)
