"""Render an evaluation: a text summary, and a report folder (metrics.json, report.md, PNG plots).

Plots use matplotlib's object API (``Figure``, Agg canvas, no pyplot state), imported lazily:
``pip install tumorscope[train]`` provides it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tumorscope import DISCLAIMER, metrics

__all__ = ["format_summary", "write_report"]

DPI = 120


def _num(value: object, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _rows(result: dict) -> list[tuple[str, str]]:
    """(name, value) rows of the headline metrics."""
    if result["task"] == "classifier":
        keys = [("accuracy", 4), ("specificity", 4), ("macro_auc", 4), ("macro_f1", 4), ("ece", 4)]
    elif result.get("tumor_free"):
        keys = [("any_tumor_share", 4), ("false_area_pct_mean", 3), ("false_area_pct_max", 3)]
    else:
        keys = [("dice", 4), ("dice_median", 4), ("dice_global", 4), ("iou", 4), ("iou_median", 4),
                ("area_pct_mae", 3), ("area_pct_bias", 3), ("true_area_pct_mean", 3)]
    return [(key, _num(result[key], digits)) for key, digits in keys]


def _group_rows(result: dict, key: str = "per_plane") -> tuple[list[str], list[list[str]]]:
    """Header and rows of the ``per_plane`` (or ``per_type``) table; no rows when no image's group is known."""
    groups = result.get(key) or {}
    keys = [k for k in next(iter(groups.values()), {}) if k != "n"]
    name = "plane" if key == "per_plane" else "tumour type"
    return [name, "n", *keys], [[g, str(v["n"]), *(_num(v[k]) for k in keys)] for g, v in groups.items()]


def _pointing_line(result: dict) -> str | None:
    """One line on the pointing game (``POINTING_SPLITS`` results), else None."""
    game = result.get("pointing_game")
    if not game:
        return None
    return (f"pointing game ({game['slices']} slices, Grad-CAM peak inside the tumour mask dilated by 1/16 of the "
            f"side): predicted class {_num(game['rate_predicted'], 3)}, true class {_num(game['rate_true'], 3)}, "
            f"random peak {_num(game['rate_random'], 3)}")


def _title(result: dict) -> str:
    return (f"{result['task']} {result['model']} ({result['format']}) on split {result['split']!r}: "
            f"{result['n']} images in {result['seconds']:.1f} s")


def format_summary(result: dict) -> str:
    """Readable multi-line summary of an evaluation result, ending with the disclaimer."""
    lines = [_title(result), "  ".join(f"{name} {value}" for name, value in _rows(result))]
    if result["task"] == "classifier":
        lines.append(f"{'class':<12}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}{'auc':>8}")
        for name, row in result["per_class"].items():
            lines.append(f"{name:<12}{_num(row['precision']):>10}{_num(row['recall']):>8}{_num(row['f1']):>8}"
                         f"{row['support']:>9}{_num(row['auc']):>8}")
    if _pointing_line(result):
        lines.append(_pointing_line(result))
    for key, title in (("per_plane", "per plane"), ("per_type", "per tumour type")):
        header, rows = _group_rows(result, key)
        if rows:
            lines.append(f"{title}: " + "; ".join(", ".join(f"{h} {v}" for h, v in zip(header, row, strict=True))
                                                  for row in rows))
    if result["errors"]:
        lines.append(f"{len(result['errors'])} unreadable files skipped, e.g. {result['errors'][0]['error']}")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]


def _markdown(result: dict, plots: dict[str, str]) -> str:
    lines = [f"# tumorscope {result['task']} evaluation", "", f"> {DISCLAIMER}", "",
             f"- model: `{result['model']}` (format `{result['format']}`, input {result['input_size']})",
             f"- split: `{result['split']}`, {result['n']} images, {result['seconds']:.1f} s",
             f"- unreadable files skipped: {len(result['errors'])}", ""]
    lines += _table(["metric", "value"], [list(row) for row in _rows(result)]) + [""]
    if _pointing_line(result):
        lines += [f"- {_pointing_line(result)}", ""]
    for key, title in (("per_plane", "Per imaging plane (BRISC file names)"),
                       ("per_type", "Per tumour type (Figshare labels.csv, BRISC file names)")):
        header, rows = _group_rows(result, key)
        if rows:
            lines += [f"## {title}", ""] + _table(header, rows) + [""]
    if result["task"] == "classifier":
        labels = result["labels"]
        lines += ["## Per class", ""]
        lines += _table(["class", "precision", "recall", "F1", "support", "AUC"], [
            [name, _num(r["precision"]), _num(r["recall"]), _num(r["f1"]), r["support"], _num(r["auc"])]
            for name, r in result["per_class"].items()])
        lines += ["", "## Confusion matrix (rows: true, columns: predicted)", ""]
        lines += _table(["true \\ predicted", *labels],
                        [[name, *row] for name, row in zip(labels, result["confusion_matrix"], strict=True)])
    elif result.get("tumor_free"):
        lines.append("Every slice of this split is tumour-free (empty ground truth): any predicted tumor pixel is a "
                     "false positive; area % is the predicted share of the slice "
                     f"(threshold {result['mask_threshold']}, regions under {result['min_region_pct']} % dropped).")
    else:
        lines.append(f"Dice and IoU are computed per slice at the original mask resolution, after the runtime's "
                     f"resize and threshold {result['mask_threshold']} (regions under {result['min_region_pct']} % "
                     "of the slice dropped); area % is the tumor share of the slice.")
    lines += ["", "## Plots", ""] + [f"### {title}\n\n![{title}]({name})\n" for name, title in plots.items()]
    return "\n".join(lines)


def _figure(size: tuple[float, float] = (6.0, 5.0)):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("matplotlib is needed for report plots; run `pip install tumorscope[train]`") from exc
    return Figure(figsize=size, layout="constrained")


def _plot_confusion(result: dict, raw: dict, ax) -> None:
    cm = np.asarray(result["confusion_matrix"])
    labels = result["labels"]
    image = ax.imshow(cm, cmap="Blues")
    ax.figure.colorbar(image, ax=ax, label="images")
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title="Confusion matrix")
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_yticklabels(labels)
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > cm.max() / 2 else "black")


def _plot_roc(result: dict, raw: dict, ax) -> None:
    labels, probabilities = raw["labels"], raw["probabilities"]
    for c, name in enumerate(result["labels"]):
        positive = labels == c
        if not positive.any() or positive.all():
            continue
        fpr, tpr = metrics.roc_curve(positive, probabilities[:, c])
        ax.plot(fpr, tpr, label=f"{name} (AUC {metrics.auc(fpr, tpr):.4f})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, one class vs rest",
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")


def _plot_class_report(result: dict, raw: dict, ax) -> None:
    names = list(result["per_class"])
    x = np.arange(len(names))
    for k, key in enumerate(("precision", "recall", "f1")):
        values = [result["per_class"][n][key] for n in names]
        bars = ax.bar(x + (k - 1) * 0.27, values, width=0.27, label=key)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    ax.set(xticks=x, ylim=(0, 1.15), ylabel="score", title="Classification report")
    ax.set_xticklabels(names)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=3)


def _plot_reliability(result: dict, raw: dict, ax) -> None:
    rel = result["reliability"]
    bins = len(rel["bin_count"])
    centers = (np.arange(bins) + 0.5) / bins
    accuracy = np.array([np.nan if v is None else v for v in rel["bin_accuracy"]], dtype=float)
    ax.bar(centers, np.nan_to_num(accuracy), width=1.0 / bins, edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="perfect calibration")
    for x, count in zip(centers, rel["bin_count"], strict=True):
        if count:
            ax.text(x, 0.02, str(count), ha="center", fontsize=7, rotation=90)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (max probability)", ylabel="accuracy",
           title=f"Reliability (ECE {_num(result['ece'])}; bar labels: images)")
    ax.legend(loc="upper left")


def _plot_overlap(result: dict, raw: dict, ax) -> None:
    edges = np.linspace(0, 1, 21)
    ax.hist(raw["dice"], bins=edges, alpha=0.6, label=f"Dice (mean {result['dice']:.3f})")
    ax.hist(raw["iou"], bins=edges, alpha=0.6, label=f"IoU (mean {result['iou']:.3f})")
    ax.set(xlabel="score per slice", ylabel="slices", title="Dice and IoU per slice")
    ax.legend(loc="upper left")


def _plot_area(result: dict, raw: dict, ax) -> None:
    true, pred = raw["true_area_pct"], raw["pred_area_pct"]
    top = max(float(true.max()), float(pred.max()), 1e-3) * 1.05
    ax.scatter(true, pred, s=8, alpha=0.6)
    ax.plot([0, top], [0, top], "k--", linewidth=0.8, label="identity")
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="true tumor area %", ylabel="predicted tumor area %",
           title=f"Tumor area (MAE {result['area_pct_mae']:.3f} points)")
    ax.legend(loc="upper left")


def _plot_area_error(result: dict, raw: dict, ax) -> None:
    ax.hist(raw["pred_area_pct"] - raw["true_area_pct"], bins=30)
    ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
    ax.set(xlabel="predicted - true tumor area % (points)", ylabel="slices",
           title=f"Area error (bias {result['area_pct_bias']:+.3f}, MAE {result['area_pct_mae']:.3f})")


def _plot_false_area(result: dict, raw: dict, ax) -> None:
    ax.hist(raw["pred_area_pct"], bins=30)
    ax.set(xlabel="predicted tumor area % on a tumour-free slice", ylabel="slices",
           title=f"False positives ({result['any_tumor_share']:.1%} of slices, "
                 f"mean {result['false_area_pct_mean']:.3f}%)")


Plot = Callable[[dict, dict, object], None]
PLOTS: dict[str, list[tuple[str, str, Plot]]] = {
    "classifier": [("confusion_matrix.png", "Confusion matrix", _plot_confusion),
                   ("roc.png", "ROC curves", _plot_roc),
                   ("classification_report.png", "Precision, recall and F1", _plot_class_report),
                   ("reliability.png", "Reliability diagram", _plot_reliability)],
    "segmenter": [("dice_iou_hist.png", "Dice and IoU histograms", _plot_overlap),
                  ("area_scatter.png", "Predicted vs true tumor area", _plot_area),
                  ("area_error_hist.png", "Tumor area error", _plot_area_error)],
    "segmenter-tumor-free": [("false_area_hist.png", "Predicted tumor area on tumour-free slices", _plot_false_area)],
}
"""Plot files of each task: (file name, title, draw function on one Axes)."""


def write_report(result: dict, raw: dict, out_dir: str | Path) -> Path:
    """Write ``metrics.json``, the PNG plots and ``report.md`` (which embeds them) into ``out_dir``.

    Args:
        result: ``Evaluation.result``; raw: ``Evaluation.raw`` (per-image outputs, see ``Evaluation``).
        out_dir: created if missing; existing files of the same names are replaced.

    Returns:
        the path of ``report.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plots = {}
    for name, title, draw in PLOTS[result["task"] + ("-tumor-free" if result.get("tumor_free") else "")]:
        figure = _figure()
        draw(result, raw, figure.add_subplot())
        figure.savefig(out / name, dpi=DPI)
        plots[name] = title
    path = out / "report.md"
    path.write_text(_markdown(result, plots), encoding="utf-8")
    return path
