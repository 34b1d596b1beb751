"""Result files (.jsonl/.csv): round trip, partial last line, refusal to overwrite; shards disjoint and covering."""

from __future__ import annotations

import json

import pytest

from tumorscope.records import RecordWriter, parse_shard, read_records, record_format, shard_inputs

RECORDS = [
    {"path": "a.jpg", "label": "glioma", "confidence": 0.9, "probabilities": {"glioma": 0.9, "notumor": 0.1},
     "bbox": [1, 2, 3, 4], "error": None, "disclaimer": "research only"},
    {"path": "b, \"odd\".png", "label": None, "confidence": None, "probabilities": None, "bbox": None,
     "error": "b.png: not a readable image, really", "disclaimer": "research only"},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_round_trip_keeps_keys_and_values(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with RecordWriter(path) as writer:
        writer.write_all(RECORDS)
    assert read_records(path) == RECORDS
    assert path.read_text(encoding="utf-8").count("\n") == len(RECORDS) + (suffix == ".csv")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_cuts_a_partial_last_line_and_appends(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with RecordWriter(path) as writer:
        writer.write(RECORDS[0])
    complete = path.read_bytes()
    path.write_bytes(complete + b'{"path": "b, \\"odd\\".png", "lab')  # a crash in the middle of a record
    assert [r["path"] for r in read_records(path)] == ["a.jpg"], "the partial line is not a record"
    with RecordWriter(path, resume=True) as writer:
        assert writer.recorded == {"a.jpg"}
        writer.write(RECORDS[1])
    assert read_records(path) == RECORDS
    assert path.read_bytes().startswith(complete)


def test_existing_file_is_never_overwritten_without_resume(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n")
    with pytest.raises(FileExistsError, match="--resume"):
        RecordWriter(path)
    assert read_records(path) == [RECORDS[0]]


def test_bad_suffix_and_corrupt_lines_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\.jsonl or \.csv"):
        record_format(tmp_path / "out.json")
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\nnot json\n" + json.dumps(RECORDS[1]) + "\n")
    with pytest.raises(ValueError, match=r"out.jsonl:2: not a JSON record"):
        read_records(path)


def test_csv_header_mismatch_is_refused(tmp_path):
    path = tmp_path / "out.csv"
    with RecordWriter(path) as writer:
        writer.write(RECORDS[0])
        with pytest.raises(ValueError, match="differ from the CSV header"):
            writer.write({"path": "c.jpg", "label": "x"})


@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
def test_shards_are_disjoint_cover_the_input_and_are_deterministic(n):
    items = [f"scan/{i:03d}.jpg" for i in range(37)][::-1]  # any order in, sorted partition out
    shards = [shard_inputs(items, k, n) for k in range(1, n + 1)]
    flat = [item for shard in shards for item in shard]
    assert sorted(flat) == sorted(items) and len(flat) == len(set(flat)) == len(items)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1, "shards are balanced"
    assert shards == [shard_inputs(list(reversed(items)), k, n) for k in range(1, n + 1)], "order-independent"


@pytest.mark.parametrize("text", ["0/4", "5/4", "1", "a/b", "1/0", "-1/3"])
def test_parse_shard_rejects_bad_specs(text):
    with pytest.raises(ValueError, match="K/N"):
        parse_shard(text)
    assert parse_shard("2/4") == (2, 4)
