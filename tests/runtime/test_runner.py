"""PipelineRunner: the same results as the sequential path, in input order, with a bounded read-ahead."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope.runtime import BackendOptions, Pipeline
from tumorscope.runtime.runner import MAX_AUTO_WORKERS, PipelineRunner, physical_cores, plan_workers

MODELS = Path(__file__).resolve().parents[2] / "models"


def _slices(folder: Path, count: int) -> list[str]:
    """Synthetic MRI-like slices of different sizes, plus one file that is not an image."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        size = (96 + 16 * (i % 3), 112 + 8 * (i % 4))
        gray = np.zeros(size, np.uint8)
        cv2.ellipse(gray, (size[1] // 2, size[0] // 2), (size[1] // 3, size[0] // 3), 0, 0, 360, 110, -1)
        cv2.circle(gray, (size[1] // 2 + 5 * i % 20, size[0] // 2), 8 + i % 5, 230, -1)
        gray = np.clip(gray + rng.integers(0, 25, size), 0, 255).astype(np.uint8)
        path = folder / f"s{i:02d}.png"
        cv2.imwrite(str(path), gray)
        paths.append(str(path))
    bad = folder / "bad.jpg"
    bad.write_text("not an image")
    return paths[:3] + [str(bad)] + paths[3:]


def _same(a, b) -> bool:
    da, db = a.to_dict(), b.to_dict()
    da.pop("timings_ms"), db.pop("timings_ms")
    if da != db:
        return False
    return (a.segmentation is None) == (b.segmentation is None) and (
        a.segmentation is None or np.array_equal(a.segmentation.mask, b.segmentation.mask)
    )


def test_plan_workers_splits_the_cores():
    assert plan_workers(cores=2) == (2, 1)
    assert plan_workers(cores=16) == (MAX_AUTO_WORKERS, 2)
    assert plan_workers(threads=2, cores=8) == (4, 2)
    assert plan_workers(workers=1, cores=4) == (1, 4)
    assert plan_workers(workers=3, threads=3, cores=2) == (3, 3), "explicit values are kept"
    assert plan_workers(threads=4, cores=2) == (1, 4)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        plan_workers(workers=0)
    assert 1 <= physical_cores() <= (__import__("os").cpu_count() or 1)


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_two_workers_give_the_sequential_results_in_order(tmp_path, backend):
    paths = _slices(tmp_path, 9)
    with Pipeline.from_model_dir(MODELS, backend, BackendOptions(threads=2)) as pipe:
        expected = [pipe.analyze_path(p) for p in paths]
    with PipelineRunner.from_model_dir(MODELS, backend, workers=2, threads=1) as runner:
        assert runner.workers == 2 and runner.backend == backend
        got = list(runner.analyze_paths(iter(paths)))
    assert [a.name for a in got] == paths
    assert [a.ok for a in got] == [True, True, True, False] + [True] * 6
    assert "not a readable image" in got[3].error
    assert all(_same(a, b) for a, b in zip(got, expected, strict=True))


def test_read_ahead_is_bounded_and_an_early_stop_cleans_up(tmp_path):
    paths = _slices(tmp_path, 8)
    pulled = []

    def source():
        for path in paths:
            pulled.append(path)
            yield path

    with PipelineRunner.from_model_dir(MODELS, "onnx", workers=2, threads=1) as runner:
        assert runner.max_in_flight == 4
        results = runner.analyze_paths(source())
        first = next(results)
        assert first.name == paths[0]
        assert len(pulled) <= runner.max_in_flight + 1, "inputs are read lazily, a bounded window ahead"
        results.close()  # the consumer stops early: pending work is cancelled, threads end
    assert len(pulled) < len(paths)


def test_a_worker_exception_reaches_the_consumer(tmp_path):
    with PipelineRunner.from_model_dir(MODELS, "onnx", workers=2, threads=1) as runner:
        def work(pipeline, item):
            if item == 2:
                raise MemoryError("boom")
            return item

        results = runner.map(work, range(5))
        assert next(results) == 0 and next(results) == 1
        with pytest.raises(MemoryError, match="boom"):
            next(results)


def test_a_failing_load_closes_the_given_first_pipeline(tmp_path):
    first = Pipeline.from_model_dir(MODELS, "onnx", BackendOptions(threads=1))
    with pytest.raises(FileNotFoundError):
        PipelineRunner.from_model_dir(tmp_path, "onnx", workers=2, threads=1, first=first)
    with pytest.raises(RuntimeError, match="closed"):
        first.classifier.classify(np.zeros((32, 32, 3), np.uint8))


def test_a_litert_pipeline_shared_by_threads_enters_its_models_one_at_a_time(tmp_path):
    paths = _slices(tmp_path, 9)
    with Pipeline.from_model_dir(MODELS, "tflite", BackendOptions(threads=1)) as pipe:
        assert pipe.serial_models
        expected = [pipe.analyze_path(p) for p in paths]
        inside, most = [0], [0]
        classify = pipe.classifier.classify

        def counted(image, *args):  # how many threads are inside the (not thread-safe) interpreter at once
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            try:
                return classify(image, *args)
            finally:
                inside[0] -= 1

        pipe.classifier.classify = counted
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(pipe.analyze_path, paths * 3))
    assert most[0] == 1, "a LiteRT interpreter is never entered by two threads at once"
    assert all(_same(a, b) for a, b in zip(got, expected * 3, strict=True))
