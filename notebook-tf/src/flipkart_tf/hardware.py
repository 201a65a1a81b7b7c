"""What the run ran on, for metrics.json and the card."""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf
from flipkart_contract.latency import cpu_name


def set_threads(threads: int) -> None:
    """0 keeps TensorFlow's default (all cores). Must run before TensorFlow starts working."""
    if threads > 0:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # already initialised in this process: keep what is there
            pass


def thread_count() -> int:
    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


def describe() -> dict[str, Any]:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
        return {
            "device": "gpu",
            "device_name": name,
            "num_threads": thread_count(),
            "gpus": len(gpus),
        }
    return {"device": "cpu", "device_name": cpu_name(), "num_threads": thread_count(), "gpus": 0}


def strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over every GPU when there are several; the default strategy otherwise."""
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
