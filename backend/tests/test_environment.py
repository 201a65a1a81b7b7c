"""The serving environment has ONNX Runtime with its CPU provider and no training framework."""

import importlib.util

import flipkart_api
import onnxruntime


def test_package_imports() -> None:
    assert flipkart_api.__doc__


def test_onnxruntime_cpu_provider_available() -> None:
    assert "CPUExecutionProvider" in onnxruntime.get_available_providers()


def test_no_training_framework_in_serving_env() -> None:
    assert importlib.util.find_spec("torch") is None
    assert importlib.util.find_spec("tensorflow") is None
