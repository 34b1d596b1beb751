"""Streamed result files for large archives: one record per input, flushed as it completes, resumable.

``.jsonl``: one ``predict --json`` object per line. ``.csv``: a header with the same keys, then one row per
input; ``None`` is an empty cell, strings stay as they are, numbers and nested values (``probabilities``,
``bbox``, ``image_size``, ``timings_ms``...) are written as JSON text.

A crash can leave at most one partial line at the end; ``RecordWriter(path, resume=True)`` cuts it off,
reads which inputs are already recorded, and appends. ``shard_inputs`` splits a sorted input list into N
disjoint parts that together cover it, so any scheduler can fan out (one output file per shard).

Standard library only. For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["RECORD_SUFFIXES", "RecordWriter", "parse_shard", "read_records", "record_format", "shard_inputs"]

RECORD_SUFFIXES = {".jsonl": "jsonl", ".csv": "csv"}
"""Output file suffix -> record format."""
T = TypeVar("T")


def record_format(path: str | Path) -> str:
    """``jsonl`` or ``csv`` from the suffix of ``path``.

    Raises:
        ValueError: any other suffix (the message lists the supported ones).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in RECORD_SUFFIXES:
        raise ValueError(f"{path}: output must end in {' or '.join(RECORD_SUFFIXES)}, got {suffix or 'no suffix'!r}")
    return RECORD_SUFFIXES[suffix]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _csv_value(cell: str) -> Any:
    if cell == "":
        return None
    try:
        return json.loads(cell)
    except ValueError:
        return cell


def _complete_text(path: Path, repair: bool) -> str:
    """The file's text up to its last newline; with ``repair`` the partial tail is cut off the file too."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        with path.open("r+b") as handle:
            handle.truncate(end)
    return data[:end].decode("utf-8")


def read_records(path: str | Path, repair: bool = False) -> list[dict[str, Any]]:
    """The complete records of a ``.jsonl`` or ``.csv`` result file (a partial last line is ignored).

    Args:
        path: the file; a missing or empty file has no records.
        repair: also cut a partial last line off the file, so that appending continues cleanly.

    Raises:
        ValueError: a complete line that is not a record (the message names the line).
    """
    path = Path(path)
    kind = record_format(path)
    if not path.is_file():
        return []
    text = _complete_text(path, repair)
    if kind == "jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON record ({exc}); fix or remove that line") from exc
            if not isinstance(record, dict) or "path" not in record:
                raise ValueError(f"{path}:{number}: record has no 'path' key; is this a tumorscope output file?")
            records.append(record)
        return records
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return []
    header = rows[0]
    if "path" not in header:
        raise ValueError(f"{path}: CSV header has no 'path' column; is this a tumorscope output file?")
    out = []
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ValueError(f"{path}:{number}: {len(row)} cells, expected {len(header)}; fix or remove that line")
        out.append({key: (cell if key == "path" else _csv_value(cell)) for key, cell in zip(header, row, strict=True)})
    return out


class RecordWriter:
    """Append one record per input to a ``.jsonl`` or ``.csv`` file, flushed after every record.

    Args:
        path: the output file (its folder is created).
        resume: continue an existing file: cut a partial last line, remember the recorded paths
            (``recorded``) and append. Without it an existing non-empty file is refused, never overwritten.

    Raises:
        ValueError: unsupported suffix, or an unreadable existing file when resuming.
        FileExistsError: the file exists with records and ``resume`` is False.
    """

    def __init__(self, path: str | Path, resume: bool = False):
        self.path = Path(path)
        self.format = record_format(self.path)
        exists = self.path.is_file() and self.path.stat().st_size > 0
        if exists and not resume:
            raise FileExistsError(f"{self.path} already exists; pass --resume to continue it, or choose a new file")
        records = read_records(self.path, repair=True) if exists else []
        self.recorded: set[str] = {str(r["path"]) for r in records}
        self.fields: list[str] | None = None
        if self.format == "csv" and exists:
            with self.path.open(newline="", encoding="utf-8") as handle:
                self.fields = next(csv.reader(handle), None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8", newline="")
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` (a ``predict --json`` object) as one line and flush it.

        Raises:
            ValueError: a CSV record whose keys differ from the file's header.
        """
        if self.format == "jsonl":
            line = json.dumps(record, ensure_ascii=False) + "\n"
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if self.fields is None:
                self.fields = list(record)
                writer.writerow(self.fields)
            if list(record) != self.fields:
                raise ValueError(f"{self.path}: record keys {list(record)} differ from the CSV header {self.fields}; "
                                 "write to a new file")
            writer.writerow([_csv_cell(record[k]) for k in self.fields])
            line = buffer.getvalue()
        self._file.write(line)
        self._file.flush()
        self.recorded.add(str(record["path"]))
        self.written += 1

    def write_all(self, records: Iterable[dict[str, Any]]) -> int:
        """Write every record; returns how many."""
        count = 0
        for record in records:
            self.write(record)
            count += 1
        return count

    def close(self) -> None:
        """Flush to disk and close the file."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``1 <= K <= N`` (shard K of N, counted from 1).

    Raises:
        ValueError: anything else (the message shows the expected form).
    """
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"shard must look like K/N (e.g. 1/4), got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def shard_inputs(inputs: Sequence[T], k: int, n: int, key=lambda item: item) -> list[T]:
    """Shard ``k`` of ``n`` (from 1): sort by ``key``, then keep every n-th item starting at the k-th.

    The same inputs give the same partition on every machine; the n shards are disjoint and together hold
    every input once. Striding (not blocks) spreads each folder over all shards, so shards take similar time.
    """
    if not 1 <= k <= n:
        raise ValueError(f"shard K/N needs 1 <= K <= N, got {k}/{n}")
    ordered = sorted(inputs, key=key)
    return ordered[k - 1 :: n]
