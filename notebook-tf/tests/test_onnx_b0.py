"""EfficientNetB0's graph (with Keras' Normalization layer inside) converts to ONNX faithfully."""

import numpy as np
import onnxruntime as ort
from flipkart_tf.callbacks import inference_function
from flipkart_tf.models import create_model
from flipkart_tf.onnx_export import to_onnx


def test_b0_onnx_matches_keras_with_dynamic_batch(tmp_path) -> None:
    model = create_model("efficientnet_b0", 7, 32, "none").model
    path = to_onnx(model, 32, tmp_path / "b0.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["pixels"]  # no captured-tensor inputs
    pixels = np.random.default_rng(0).uniform(0, 255, (5, 32, 32, 3)).astype(np.float32)
    expected = inference_function(model)(pixels).numpy()
    for batch in (1, 5):
        got = session.run(["logits"], {"pixels": pixels[:batch]})[0]
        np.testing.assert_allclose(got, expected[:batch], atol=1e-4)
