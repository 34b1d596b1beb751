"""The ``tumorscope`` command line. Subsystems are imported inside command bodies so --help is instant."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from tumorscope import DISCLAIMER, __version__

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=DISCLAIMER)
@click.version_option(__version__, prog_name="tumorscope")
def main() -> None:
    """Brain-tumor MRI classification and segmentation on the edge (research and education only)."""


@contextlib.contextmanager
def _exit_on(*errors: type[BaseException], code: int = 2) -> Iterator[None]:
    """The CLI's one error block: any of ``errors`` becomes ``error: <one line>`` on stderr and exit ``code``."""
    try:
        yield
    except errors as exc:
        from tumorscope.runtime.errors import one_line

        click.echo(f"error: {one_line(exc, None)}", err=True)
        sys.exit(code)


def _data_root(data: str | None) -> Path:
    from tumorscope.datasets import resolve_data_root

    try:
        return resolve_data_root(data)
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from exc


@main.group()
def train() -> None:
    """Train a model on the real data (needs `pip install tumorscope[train]`)."""


_data_option = click.option("--data", type=click.Path(file_okay=False), default=None,
                            help="Data root holding brain-tumor-mri/ and brain-tumor-seg/ [env TUMORSCOPE_DATA].")
_out_option = click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
                           help="Run folder: checkpoints, logs, caches and the trained model; rerun to resume.")
_model_dir_option = click.option(
    "--model-dir", type=click.Path(file_okay=False), default=None,
    help="Folder with classifier.int8.* and segmenter.int8.* [env TUMORSCOPE_MODELS; else the models installed "
         "with the package].")
_limit_option = click.option("--limit", type=int, default=None,
                              help="Use at most N train and N val images (smoke runs).")


def _echo_trained(result) -> None:
    click.echo(f"wrote {result.model_path} (+ .spec.json), logs and checkpoints in {result.out_dir}; "
               f"{result.epochs} epochs, best {result.metric} {result.best_val:.4f}, {result.seconds / 60:.1f} min")


def _verbosity() -> int:
    return 1 if sys.stdout.isatty() else 2


@train.command("classifier")
@_data_option
@_out_option
@click.option("--backbone-weights", default="imagenet", show_default=True,
              help="VGG16 include_top=False ImageNet .h5 file, or 'imagenet' to let Keras download it.")
@click.option("--head-epochs", type=int, default=5, show_default=True, help="Phase 1 epochs (conv base frozen).")
@click.option("--finetune-epochs", type=int, default=30, show_default=True, help="Phase 2 epochs (block 5 unfrozen).")
@click.option("--aug-copies", type=int, default=3, show_default=True, help="Augmented copies of the train set.")
@click.option("--patience", type=int, default=6, show_default=True, help="Early-stopping patience (epochs).")
@click.option("--learning-rate", type=float, default=1e-4, show_default=True, help="Adam learning rate.")
@click.option("--attention-weight", type=float, default=0.0, show_default=True,
              help="Weight of the Grad-CAM pointing loss on training images with an expert tumour mask "
                   "(BRISC, leak-filtered): teaches the classifier to look at the tumour. 0: off.")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Warm start from an earlier classifier .keras (then --head-epochs 0 skips phase 1).")
@_limit_option
def train_classifier_cmd(data, out_dir, backbone_weights, head_epochs, finetune_epochs, aug_copies, patience,
                         learning_rate, attention_weight, init_from, limit):
    """Train the VGG16 4-class classifier."""
    from tumorscope.training.train import train_classifier

    result = train_classifier(_data_root(data), Path(out_dir), backbone_weights, head_epochs=head_epochs,
                              finetune_epochs=finetune_epochs, aug_copies=aug_copies, patience=patience,
                              learning_rate=learning_rate, limit=limit, verbose=_verbosity(),
                              attention_weight=attention_weight, init_from=Path(init_from) if init_from else None)
    _echo_trained(result)


def _type_counts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, int]:
    """``("glioma=2", ...)`` -> ``{"glioma": 2}``; a bad type or count is a usage error."""
    from tumorscope.datasets import FIGSHARE_TUMOR_TYPES

    types = sorted(FIGSHARE_TUMOR_TYPES.values())
    counts = {}
    for value in values:
        kind, _, count = value.partition("=")
        if kind not in types or not count.isdigit() or int(count) < 1:
            raise click.BadParameter(f"{value!r}: give TYPE=K with TYPE one of {', '.join(types)} "
                                     "and K a whole number >= 1", ctx, param)
        counts[kind] = int(count)
    return counts


@train.command("segmenter")
@_data_option
@_out_option
@click.option("--input-size", type=click.IntRange(32, 512), default=128, show_default=True,
              help="Square input side in pixels (a multiple of 2**DEPTH); the runtime reads it from the spec.")
@click.option("--base-filters", type=int, default=16, show_default=True, help="U-Net width (filters of level 1).")
@click.option("--depth", type=int, default=4, show_default=True, help="Encoder levels (max-pools).")
@click.option("--encoder", type=click.Choice(["plain", "vgg16"]), default="plain", show_default=True,
              help="plain: conv blocks from scratch; vgg16: ImageNet VGG16 blocks 1..DEPTH (needs --backbone-weights).")
@click.option("--backbone-weights", default="imagenet", show_default=True,
              help="VGG16 include_top=False .h5 for --encoder vgg16 ('imagenet' downloads; offline give a path).")
@click.option("--epochs", type=int, default=40, show_default=True)
@click.option("--patience", type=int, default=8, show_default=True, help="Early-stopping patience (epochs).")
@click.option("--learning-rate", type=float, default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Warm start from an earlier run's .keras or .weights.h5 (same architecture).")
@click.option("--figshare-only", is_flag=True,
              help="Train on Figshare's train blocks only (no BRISC masks, no tumour-free slices).")
@click.option("--tumor-free-share", type=float, default=0.2, show_default=True,
              help="Share of each batch drawn from tumour-free slices (empty masks).")
@click.option("--presence-weight", type=float, default=1.0, show_default=True,
              help="Weight of the loss term that keeps tumour-free slices' peak probability low (0: off).")
@click.option("--mirror", is_flag=True,
              help="Also feed the encoder the image mirrored left-right (a 4th channel; plain encoder).")
@click.option("--oversample", "oversample", multiple=True, callback=_type_counts, metavar="TYPE=K",
              help="Show every slice of a tumour type K times per epoch, e.g. glioma=2 (repeatable).")
@_limit_option
def train_segmenter_cmd(data, out_dir, input_size, base_filters, depth, encoder, backbone_weights, epochs, patience,
                        learning_rate, init_from, figshare_only, tumor_free_share, presence_weight, mirror, oversample,
                        limit):
    """Train the U-Net tumor segmenter (BCE + Dice + tumour-presence loss)."""
    from tumorscope.training.train import train_segmenter

    with _exit_on(ValueError):  # an input size, depth or warm start that does not fit the architecture
        result = train_segmenter(_data_root(data), Path(out_dir), (input_size, input_size),
                                 base_filters=base_filters, depth=depth, encoder=encoder,
                                 backbone_weights=backbone_weights, epochs=epochs, patience=patience,
                                 learning_rate=learning_rate, limit=limit, verbose=_verbosity(),
                                 init_from=Path(init_from) if init_from else None, extra_data=not figshare_only,
                                 tumor_free_share=tumor_free_share, presence_weight=presence_weight, mirror=mirror,
                                 oversample=oversample)
    _echo_trained(result)


@main.command("evaluate")
@click.argument("task", type=click.Choice(["classifier", "segmenter"]))
@click.option("--model", "model_path", type=click.Path(dir_okay=False), required=True,
              help=".keras (needs TensorFlow), .onnx or .tflite model with its .spec.json.")
@_data_option
@click.option("--split", default="test", show_default=True,
              help="Committed split: test, val, train; classifier also test-dedup, notumor-indep (specificity) "
                   "and figshare-val / figshare-test[-unseen] (Figshare slices: accuracy and the pointing game; "
                   "-unseen: without the copies the classifier trained on); segmenter "
                   "also brisc-test (per-plane Dice) and the tumour-free notumor-official / notumor-indep.")
@click.option("--limit", type=int, default=None, help="Evaluate at most N images, evenly spaced over the split.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None,
              help="Write metrics.json, report.md and PNG plots into this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@click.option("--threads", type=int, default=None, help="Inference threads (default: the backend's).")
def evaluate_cmd(task, model_path, data, split, limit, report_dir, as_json, threads):
    """Evaluate a model artifact on a committed split (metrics, optional report with plots)."""
    import json

    from tumorscope.evaluation.evaluate import evaluate
    from tumorscope.runtime.backends import BackendOptions

    with _exit_on(FileNotFoundError, ValueError, RuntimeError, ImportError, OSError):
        evaluation = evaluate(task, model_path, data, split, limit, BackendOptions(threads=threads),
                              progress=sys.stderr.isatty())
        report = None
        if report_dir:
            from tumorscope.evaluation.report import write_report

            report = write_report(evaluation.result, evaluation.raw, report_dir)
    if as_json:
        click.echo(json.dumps(evaluation.result | ({"report": str(report)} if report else {})))
    else:
        from tumorscope.evaluation.report import format_summary

        click.echo(format_summary(evaluation.result))
    if report:
        click.echo(f"report written to {report}", err=as_json)


@main.command("predict")
@click.argument("inputs", nargs=-1, required=True)
@_model_dir_option
@click.option("--backend", type=click.Choice(["onnx", "tflite"]), default="onnx", show_default=True,
              help="onnx: ONNX Runtime (CPU or GPU providers); tflite: LiteRT (edge).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Inference threads (default: the backend's).")
@click.option("--provider", "providers", multiple=True,
              help="ONNX Runtime execution provider, repeatable, in priority order, e.g. CUDAExecutionProvider "
                   "(default: CPU; unavailable ones fall back to CPU with a note).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (one object per input) and nothing else.")
@click.option("--overlay-dir", type=click.Path(file_okay=False), default=None,
              help="Write <stem>.overlay.png (tumor tinted, legend) per input into this folder.")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Stream one record per input into this .jsonl or .csv file (same keys as --json), each "
                   "flushed as it completes; stdout then gets a one-line summary.")
@click.option("--resume", is_flag=True, help="With --output: skip the inputs already recorded there and append.")
@click.option("--shard", default=None, metavar="K/N",
              help="Analyse only shard K of N (1 <= K <= N) of the sorted inputs; the N shards are disjoint and "
                   "cover every input (give each shard its own --output).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Images analysed at once, each worker with its own copy of the models "
                   "(default: one per physical core; --threads then splits the cores).")
@click.option("--explain-dir", type=click.Path(file_okay=False), default=None,
              help="Write <stem>.explain.png (where the classifier looked: Grad-CAM heat map, legend) per input.")
@click.option("--reject-ood", is_flag=True,
              help="Make an input that does not look like a brain MRI slice (input check) an error (exit code 1) "
                   "instead of a result with the not_a_brain_mri warning.")
def predict_cmd(inputs, model_dir, backend, threads, providers, as_json, overlay_dir, output, resume, shard,
                workers, explain_dir, reject_ood):
    """Classify and segment images: files, folders (their images, sorted) or glob patterns.

    Exit code 0 when every input was analysed, 1 when any failed, 2 when the models cannot be loaded.
    """
    import json

    from tumorscope.predict import expand_inputs, format_table, open_pipeline, predict_rows
    from tumorscope.records import parse_shard, shard_inputs
    from tumorscope.runtime.runner import PipelineRunner, plan_workers

    if resume and not output:
        raise click.UsageError("--resume needs --output PATH (the file to continue)")
    items = expand_inputs(inputs)
    if shard:
        try:
            items = shard_inputs(items, *parse_shard(shard), key=lambda item: item[0])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--shard") from exc
    if workers is None and threads is None:  # a few inputs do not pay for extra model copies
        workers = max(1, min(plan_workers()[0], sum(error is None for _, error in items)))
    workers, threads = plan_workers(workers, threads)
    with _exit_on(FileNotFoundError, ValueError, RuntimeError, ImportError):
        pipeline = open_pipeline(model_dir, backend, threads, providers)
    with _exit_on(FileNotFoundError, ValueError, RuntimeError, ImportError):  # closes `pipeline` on failure
        runner = PipelineRunner.from_model_dir(pipeline.classifier.path.parent, backend, workers, threads, providers,
                                               first=pipeline)
    with runner:
        for worker in runner.pipelines:
            worker.reject_ood = reject_ood
        for note in pipeline.describe()["notes"]:
            click.echo(f"note: {note}", err=True)
        if output:
            _predict_to_file(items, runner, output, resume, overlay_dir, as_json)
        rows = predict_rows(items, runner, overlay_dir, explain_dir)
        try:
            if len(items) > 1 and sys.stderr.isatty():
                with click.progressbar(rows, length=len(items), label="analysing", file=sys.stderr) as bar:
                    rows = list(bar)
            else:
                rows = list(rows)
        except OSError as exc:  # the overlay or explanation folder cannot be created
            click.echo(f"error: --overlay-dir {overlay_dir} / --explain-dir {explain_dir}: {exc.strerror or exc}",
                       err=True)
            sys.exit(2)
    click.echo(json.dumps(rows, indent=2) if as_json else format_table(rows))
    sys.exit(1 if any(row["error"] is not None for row in rows) else 0)


def _predict_to_file(items, runner, output, resume, overlay_dir, as_json) -> None:
    """``predict --output``: stream the records, print a summary (JSON with --json), exit 0, 1 or 2."""
    import json

    from tumorscope.predict import predict_to_file

    def progress(rows, count):
        if count > 1 and sys.stderr.isatty():
            with click.progressbar(rows, length=count, label="analysing", file=sys.stderr) as bar:
                yield from bar
        else:
            yield from rows

    with _exit_on(FileExistsError, ValueError, OSError):
        summary = predict_to_file(items, runner, output, resume, overlay_dir, progress)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        rate = f", {summary['images_per_s']} images/s" if summary["images_per_s"] else ""
        click.echo(f"{output}: {summary['written']} record(s) written ({summary['failed']} failed), "
                   f"{summary['skipped']} already recorded skipped, {summary['seconds']:.1f} s{rate}. {DISCLAIMER}")
    sys.exit(1 if summary["failed"] else 0)


@main.command("ray-predict")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--output", type=click.Path(dir_okay=False), required=True,
              help="The .jsonl or .csv result file (same records as predict --output), written by this driver.")
@click.option("--resume", is_flag=True, help="Skip the inputs already recorded in --output and append.")
@_model_dir_option
@click.option("--backend", type=click.Choice(["onnx", "tflite"]), default="onnx", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Ray actors, each with its own copy of the models.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Inference threads (and Ray CPUs) per actor.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Paths per map_batches call.")
@click.option("--address", default=None,
              help="Ray cluster to join ('auto': the one this node belongs to) [default: a local Ray].")
@click.option("--provider", "providers", multiple=True, help="ONNX Runtime execution provider (as for predict).")
def ray_predict_cmd(inputs, output, resume, model_dir, backend, workers, threads, batch_size, address, providers):
    """Score files, folders or globs on a Ray cluster (needs `pip install "tumorscope[ray]"`).

    Images must be readable at the same path on every node; the models travel from this machine. Exit code 0
    when every input was analysed, 1 when any failed, 2 on bad input or missing models / Ray.
    """
    from tumorscope.predict import expand_inputs
    from tumorscope.ray_runner import ray_predict

    with _exit_on(FileNotFoundError, FileExistsError, ValueError, ImportError, OSError):
        summary = ray_predict(expand_inputs(inputs), output, model_dir, backend, workers, threads, batch_size,
                              resume, providers or None, address, log=lambda line: click.echo(line, err=True))
    click.echo(f"{output}: {summary['written']} record(s) written ({summary['failed']} failed), "
               f"{summary['skipped']} already recorded skipped, {summary['seconds']:.1f} s. {DISCLAIMER}")
    sys.exit(1 if summary["failed"] else 0)


@main.command("models")
@_model_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def models_cmd(model_dir, as_json):
    """List the models `predict` and `serve` use: path, format, sha256 and the manifest's metrics.

    Exit code 0 when all four int8 models and specs are there and match manifest.json, 1 when one is missing
    or differs, 2 when there is no models folder.
    """
    import json

    from tumorscope.inventory import format_inventory, inventory

    with _exit_on(FileNotFoundError, OSError, ValueError):
        report = inventory(model_dir)
    click.echo(json.dumps(report, indent=2) if as_json else format_inventory(report))
    sys.exit(1 if report["missing"] or any(m["sha256_matches"] is False for m in report["models"]) else 0)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0 exposes the app to the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True,
              help="TCP port (0: any free port).")
@_model_dir_option
@click.option("--backend", type=click.Choice(["onnx", "tflite"]), default="onnx", show_default=True,
              help="onnx: ONNX Runtime (parallel requests); tflite: LiteRT (requests take turns).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Inference threads per model (default: the backend's).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=20, show_default=True,
              help="Largest accepted upload; bigger ones get HTTP 413.")
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None,
              help="Analyses run at once; more uploads wait for a slot (default: one per CPU core).")
def serve_cmd(host, port, model_dir, backend, threads, max_upload_mb, max_concurrent):
    """Run the web app: upload an MRI slice, see the class, confidences, tumor overlay and area.

    Development-grade threaded server without debug mode; stops cleanly on Ctrl+C or SIGTERM. For
    production run gunicorn -k gthread --threads 4 -w 2 'tumorscope.web:create_app()' (models from
    TUMORSCOPE_MODELS) or put a buffering reverse proxy in front; see the README.
    """
    try:
        from tumorscope.web import serve
    except ImportError as exc:
        click.echo(f"error: the web app needs Flask ({exc}); run `pip install tumorscope[web]`", err=True)
        sys.exit(2)
    with _exit_on(FileNotFoundError, ValueError, RuntimeError, ImportError, OSError):
        serve(host, port, model_dir, backend, threads, max_upload_mb, echo=click.echo, max_concurrent=max_concurrent)


def _export_formats_help() -> str:
    from tumorscope.export.formats import EXPORT_FORMAT_NAMES

    return f"Comma-separated formats: {', '.join(EXPORT_FORMAT_NAMES)}, or all."


@main.command("export")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), required=True,
              help="Trained .keras model with its .spec.json sidecar.")
@click.option("--formats", default="all", show_default=True, help=_export_formats_help())
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for the artifacts (<stem><suffix> + .spec.json); a failing format writes nothing.")
@_data_option
@click.option("--calibration-count", type=click.IntRange(min=1), default=200, show_default=True,
              help="TRAINING-split images to calibrate int8 formats.")
@click.option("--validation-count", type=click.IntRange(min=1), default=200, show_default=True,
              help="Val-split images on which each artifact is compared with the Keras original.")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=None,
              help="Classifier: least top-1 agreement with Keras [default: per format, tumorscope/assess/limits.json].")
@click.option("--max-prob-delta", type=click.FloatRange(min=0), default=None,
              help="Largest |probability difference| to Keras [default: per format, where limits.json sets one].")
@click.option("--min-dice", type=click.FloatRange(0, 1), default=None,
              help="Segmenter: least mean Dice between the Keras and the exported masks [default: per format].")
@click.option("--onnx-calibration", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True, help="ONNX Runtime calibration method of onnx-int8.")
@click.option("--onnx-format", type=click.Choice(["qoperator", "qdq"]), default="qoperator", show_default=True,
              help="Graph layout of onnx-int8: integer operators (fastest on CPUs) or quantize/dequantize pairs "
                   "(for GPU providers such as TensorRT).")
@click.option("--trust-count", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Classifier: TRAINING images the input check (not-a-brain-MRI detector) is fitted on; the "
                   "artifacts also get features and class-map outputs. 0: probabilities only, no input check.")
def export_cmd(model_path, formats, out_dir, data, calibration_count, validation_count, min_agreement,
               max_prob_delta, min_dice, onnx_calibration, onnx_format, trust_count):
    """Export a Keras model to ONNX / TFLite (fp32 and quantized), each validated against the original.

    Exit code 0 when every format passed, 1 when any failed (nothing written for it), 2 on bad input.
    """
    from tumorscope.export import (
        ExportValidationError,
        export_model,
        parse_formats,
        raise_on_failure,
        results_table,
    )

    try:
        chosen = parse_formats(formats)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--formats") from exc
    given = {"min_agreement": min_agreement, "max_prob_delta": max_prob_delta, "min_parity_dice": min_dice}
    limits = {f.name: {k: v for k, v in given.items() if v is not None} for f in chosen if f.backend != "keras"}
    with _exit_on(FileNotFoundError, ValueError, TypeError, RuntimeError, ImportError, OSError):
        results = export_model(model_path, chosen, out_dir=out_dir, data_root=_data_root(data),
                               limits=limits, calibration_count=calibration_count,
                               validation_count=validation_count, onnx_calibration=onnx_calibration,
                               trust_count=trust_count, onnx_format=onnx_format)
    click.echo(results_table(results))
    written = [r.path.name for r in results if r.passed and r.format != "keras"]
    click.echo(f"wrote {len(written)} artifacts (each + .spec.json) to {out_dir}: {', '.join(written) or 'none'}. "
               f"{DISCLAIMER}")
    try:
        raise_on_failure(results)
    except ExportValidationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _thread_counts(_ctx, _param, value: str | None) -> list[int] | None:
    """``--threads 2`` or a sweep ``--threads 1,2,4`` -> ``[counts]``."""
    if value is None:
        return None
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"expected a thread count or a comma-separated sweep like 1,2,4; got {value!r}")
    return counts


def _bench_pipeline(model_dir, data, split, limit, formats, threads, runs, warmup, json_path, markdown_path,
                    csv_path) -> None:
    """``bench --task pipeline``: model latency and end-to-end images/s per backend and thread count."""
    from tumorscope.bench.pipeline import pipeline_markdown, pipeline_report, short_header, write_pipeline_report

    with _exit_on(FileNotFoundError, ValueError, TypeError, RuntimeError, ImportError, OSError):
        report = pipeline_report(model_dir, data, split, limit, formats, threads, runs, warmup,
                                 log=lambda line: click.echo(line, err=True))
        written = write_pipeline_report(report, json_path, csv_path, markdown_path)
    click.echo(pipeline_markdown(report["rows"], short_header(report["header"])))
    for path in written:
        click.echo(f"wrote {path}", err=True)
    sys.exit(2 if any(row["error"] for row in report["rows"]) else 0)


@main.command("bench")
@click.option("--task", type=click.Choice(["classifier", "segmenter", "pipeline"]), required=True,
              help="One model's formats, or pipeline: both int8 models end to end (files to results), "
                   "--formats onnx,tflite.")
@click.option("--formats", default=None,
              help="Comma-separated formats (default: all): keras, onnx, onnx-int8, tflite, tflite-fp16, "
                   "tflite-dynamic, tflite-int8. The Keras original always runs first as the parity reference.")
@click.option("--model-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with <task>.keras and its exports [env TUMORSCOPE_MODELS; else the checkout's models/].")
@_data_option
@click.option("--split", default="test", show_default=True, help="Committed split: test, test-dedup, val or train.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N images, evenly spaced.")
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True,
              help="Timed batch-1 runs per format (after warm-up; slowest 5% dropped).")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True, help="Untimed warm-up runs.")
@click.option("--threads", default=None, callback=_thread_counts,
              help="Inference threads of every backend [default: the usable cores]; --task pipeline takes a "
                   "sweep, e.g. 1,2.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True,
              help="Batch size of the throughput measurement and the prediction pass.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where missing artifacts are exported [default: ~/.cache/tumorscope/bench].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the report as JSON.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default=None,
              help="Write the markdown table with the machine header.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write one CSV row per format.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of latency p50 against accuracy / Dice (needs matplotlib).")
@click.option("--check", is_flag=True, help="Exit 1 when any threshold fails (one line per failure).")
@click.option("--thresholds", type=click.Path(dir_okay=False), default=None,
              help="Limits JSON [default: the committed tumorscope/assess/limits.json].")
def bench_cmd(task, formats, model_dir, data, split, limit, runs, warmup, threads, batch, cache_dir, json_path,
              markdown_path, csv_path, plot_path, check, thresholds):
    """Benchmark every format against the Keras original: size, latency, memory, accuracy/Dice and parity.

    Each format runs in its own process on the same images. Exit code 0 when done (with --check: when
    every threshold passed), 1 when a threshold failed under --check, 2 on bad input.
    """
    from tumorscope.bench import render
    from tumorscope.bench.harness import benchmark

    if task == "pipeline":
        _bench_pipeline(model_dir, data, split, limit, formats, threads, runs, warmup, json_path, markdown_path,
                        csv_path)
    if threads is not None and len(threads) > 1:
        raise click.BadParameter("a sweep runs with --task pipeline; a per-format bench takes one count",
                                 param_hint="--threads")
    with _exit_on(FileNotFoundError, ValueError, TypeError, RuntimeError, ImportError, OSError):
        report = benchmark(task, formats, model_dir=model_dir, data_root=data, split=split, limit=limit, runs=runs,
                           warmup=warmup, threads=threads[0] if threads else None, batch=batch, cache_dir=cache_dir,
                           thresholds=thresholds,
                           log=lambda line: click.echo(line, err=True))
        written = [writer(report, path) for writer, path in ((render.write_json, json_path),
                                                             (render.write_markdown, markdown_path),
                                                             (render.write_csv, csv_path),
                                                             (render.write_plot, plot_path)) if path]
    click.echo(render.to_markdown(report))
    for path in written:
        click.echo(f"wrote {path}", err=True)
    if check:
        for line in report.failures:
            click.echo(f"FAIL {line}")
        click.echo(f"check: {'passed' if report.passed else f'{len(report.failures)} thresholds failed'}")
        sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
