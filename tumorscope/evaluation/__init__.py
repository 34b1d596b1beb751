"""Evaluation of any model artifact (.keras, .onnx, .tflite) on the committed splits."""
