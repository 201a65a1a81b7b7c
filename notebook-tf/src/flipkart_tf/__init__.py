"""TensorFlow lab: the Keras EfficientNet baseline on the Flipkart split.

tf.data input pipeline, EfficientNetB0–B3 training with TensorBoard runs that follow the
repository's run contract, and ONNX export with a parity check (see artifacts/README.md).
"""

__version__ = "0.1.0"
