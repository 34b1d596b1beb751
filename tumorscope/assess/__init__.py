"""Assessment layer between ``runtime`` and the tools (evaluate, export, bench, the aarch64 check).

One definition each of what those tools share:

- ``assess.models.open_model``: open any artifact (``.keras`` via TensorFlow, ``.onnx``, ``.tflite``);
- ``assess.items``: ``pick_evenly`` (N items evenly), ``iter_batches`` (a split's images, preprocessed by the
  runtime, unreadable files reported), ``read_mask``, ``label_positions`` (data classes -> model columns);
- ``assess.parity``: parity numbers of two runs on the same images;
- ``assess.pointing``: the pointing game (Grad-CAM peak inside the expert's tumour mask) of any classifier;
- ``assess.limits`` + ``limits.json``: every pass/fail limit, named for what it compares.

Submodules are imported where used, so importing this package costs nothing.
"""

__all__: list[str] = []
