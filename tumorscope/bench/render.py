"""Write a ``BenchReport`` as JSON, CSV, a markdown table with the machine header, or a latency/quality plot."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from tumorscope.bench.harness import ROW_FIELDS, BenchReport

__all__ = ["to_json", "to_csv", "to_markdown", "write_json", "write_csv", "write_markdown", "write_plot"]

_COLUMNS = {
    "common": (
        ("Format", "format", "{}"), ("Status", "status", "{}"), ("Size MB", "size_mb", "{:.2f}"),
        ("Load ms", "load_ms", "{:.0f}"), ("First ms", "first_inference_ms", "{:.1f}"),
        ("p50 ms", "latency_ms_p50", "{:.2f}"), ("p90 ms", "latency_ms_p90", "{:.2f}"),
        ("img/s @{batch}", "throughput_ips", "{:.1f}"), ("Peak RSS MB", "peak_rss_mb", "{:.0f}"),
    ),
    "classifier": (
        ("Accuracy", "accuracy", "{:.4f}"), ("Delta pp", "accuracy_delta", "pp"),
        ("Agreement", "agreement", "{:.4f}"), ("Max dprob", "max_prob_delta", "{:.4f}"),
        ("Check ms", "input_check_ms_p50", "{:.3f}"), ("Check %", "input_check_share", "{:.1%}"),
        ("Accepted", "input_check_accepted", "{:.4f}"), ("Outputs %", "extra_outputs_share", "{:+.1%}"),
    ),
    "segmenter": (
        ("Dice", "dice", "{:.4f}"), ("Delta", "dice_delta", "{:+.4f}"),
        ("Parity Dice", "parity_dice", "{:.4f}"), ("Max dprob", "max_prob_delta", "{:.4f}"),
    ),
}


def _clean(value: object) -> object:
    """JSON-ready: NaN/inf floats to None, containers recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(report: BenchReport) -> str:
    """The report as a JSON document: the header (with ``machine`` and ``versions``), ``rows`` and ``check``."""
    return json.dumps(_clean(report.to_dict()), indent=2, allow_nan=False)


def to_csv(report: BenchReport) -> str:
    """One CSV line per format, columns ``ROW_FIELDS[task]``, empty cells for unavailable values."""
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROW_FIELDS[report.header["task"]], lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: "" if v is None else v for k, v in _clean(row).items()})
    return buffer.getvalue()


def _cell(value: object, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if spec == "pp":
        return f"{100 * value:+.2f}"
    return spec.format(value).replace("|", "/")


def _machine_lines(header: dict) -> list[str]:
    machine, versions = header["machine"], header["versions"]
    cores = f"{machine['cores']} logical cores ({machine['usable_cores']} usable"
    cores += f", {machine['physical_cores']} physical)" if machine.get("physical_cores") else ")"
    flags = " ".join(machine["flags"]) or "none of note"
    memory = f", {machine['memory_gb']} GiB RAM" if machine.get("memory_gb") else ""
    libraries = ", ".join(f"{name} {version}" for name, version in versions.items() if version)
    return [
        f"- Machine: {machine['cpu'] or 'unknown CPU'}, {cores}{memory}; {machine['os']} ({machine['arch']}), "
        f"Python {machine['python']}",
        f"- CPU flags: {flags}",
        f"- Libraries: {libraries}",
        f"- Settings: {header['threads']} threads; batch-1 model latency (decode and preprocessing excluded) over "
        f"{header['runs']} runs after {header['warmup']} warm-up runs, slowest 5% dropped; throughput at batch "
        f"{header['batch']}; load = import + model load in a fresh process; peak RSS of each format's own worker "
        f"process after load and inference; {header['date']}",
    ]


def to_markdown(report: BenchReport) -> str:
    """A markdown section: machine header, one table row per format, the gate result and the disclaimer."""
    header = report.header
    task = header["task"]
    columns = _COLUMNS["common"] + _COLUMNS[task]
    quality = "accuracy" if task == "classifier" else "mean Dice at the original mask size"
    lines = [
        f"### tumorscope bench: {task}, {header['split']} split ({header['n_images']} images, {quality})",
        "",
        *_machine_lines(header),
        "",
        "| " + " | ".join(c[0].replace("{batch}", str(header["batch"])) for c in columns) + " |",
        "| " + " | ".join("---" if c[1] in ("format", "status") else "---:" for c in columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(row.get(key), spec) for _, key, spec in columns) + " |" for row in report.rows]
    notes = [f"- {row['format']}: {row['error']}" for row in report.rows if row.get("error")]
    if notes:
        lines += ["", "Notes:", *notes]
    lines += ["", f"Gate ({header['thresholds']}): " + ("passed" if report.passed else
                                                        f"{len(report.failures)} thresholds failed")]
    lines += [f"- {line}" for line in report.failures]
    lines += ["", f"*{header['disclaimer']}*", ""]
    return "\n".join(lines)


def _write(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_json(report: BenchReport, path: str | Path) -> Path:
    """Write ``to_json`` to ``path`` (parents created); returns the path."""
    return _write(path, to_json(report) + "\n")


def write_csv(report: BenchReport, path: str | Path) -> Path:
    """Write ``to_csv`` to ``path``; returns the path."""
    return _write(path, to_csv(report))


def write_markdown(report: BenchReport, path: str | Path) -> Path:
    """Write ``to_markdown`` to ``path``; returns the path."""
    return _write(path, to_markdown(report))


def write_plot(report: BenchReport, path: str | Path) -> Path:
    """Scatter of batch-1 latency p50 (x) against accuracy or Dice (y), one labelled point per format.

    Raises:
        ImportError: matplotlib missing (``pip install tumorscope[train]``).
        ValueError: no row has both values.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("matplotlib is needed for --plot; run `pip install tumorscope[train]`") from exc
    task = report.header["task"]
    metric = "accuracy" if task == "classifier" else "dice"
    points = [(r["format"], r["latency_ms_p50"], r[metric]) for r in report.rows
              if r.get("latency_ms_p50") is not None and r.get(metric) is not None]
    if not points:
        raise ValueError("no format has both a latency and a quality value to plot")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    try:
        for name, latency, value in points:
            ax.scatter(latency, value, s=36)
            ax.annotate(name, (latency, value), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"latency p50 at batch 1, ms (log scale, {report.header['threads']} threads)")
        ax.set_ylabel("accuracy" if task == "classifier" else "mean Dice")
        ax.set_title(f"{task}: {report.header['split']} split, {report.header['machine']['cpu']}", fontsize=9)
        ax.grid(True, alpha=0.3)
        fig.text(0.01, 0.01, report.header["disclaimer"], fontsize=6, alpha=0.7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
