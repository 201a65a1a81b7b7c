"""Keras model → ONNX through a frozen concrete function and tf2onnx.

tf2onnx's `from_keras` does not support Keras 3, and `from_function` turns the tensors that
Keras' Normalization layer captures into extra graph inputs. Freezing the concrete function
first (variables and captures become constants) and converting the GraphDef avoids both.
"""

from __future__ import annotations

from pathlib import Path

import keras
import onnx
import tensorflow as tf
import tf2onnx
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

OPSET = 17
INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
BATCH_DIM = "N"


def to_onnx(model: keras.Model, image_size: int, path: str | Path, opset: int = OPSET) -> Path:
    spec = tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name=INPUT_NAME)
    function = tf.function(lambda pixels: model(pixels, training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(spec))
    input_name = frozen.inputs[0].name
    output_name = frozen.outputs[0].name
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[input_name],
        output_names=[output_name],
        opset=opset,
        tensors_to_rename={input_name: INPUT_NAME, output_name: OUTPUT_NAME},
    )
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    onnx.checker.check_model(proto)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path
