"""The TensorFlow lab's environment: TensorFlow computes a gradient on this machine."""

import flipkart_tf
import tensorflow as tf


def test_package_imports() -> None:
    assert flipkart_tf.__doc__


def test_tensorflow_gradient_on_cpu() -> None:
    x = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(x * x)
    grad = tape.gradient(y, x)
    assert grad.numpy().tolist() == [2.0, 4.0, 6.0]
