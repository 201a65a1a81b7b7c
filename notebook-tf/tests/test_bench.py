"""`bench` writes the result file with every figure measured (tiny model, few repeats)."""

import json

from flipkart_tf.bench import run_bench


def test_bench_writes_training_and_latency_figures(tmp_path) -> None:
    out = run_bench(
        tmp_path / "tensorflow.json",
        architecture="tiny_cnn",
        image_size=32,
        batch_size=4,
        train_steps=1,
        repeats=2,
        threads=1,
    )
    result = json.loads(out.read_text())
    assert result["framework"] == "tensorflow" and result["architecture"] == "tiny_cnn"
    assert result["train"]["images_per_s"] > 0
    for engine in ("keras", "onnxruntime"):
        timings = result["inference_ms"][engine]
        assert timings["batch_1"] > 0 and timings["batch_16_per_image"] > 0
        assert timings["threads"] == 1
    assert result["onnx_vs_keras_max_abs_logit_diff"] <= 1e-3
