"""Training of the classifier and the segmenter (needs the ``train`` extra: TensorFlow/Keras)."""
