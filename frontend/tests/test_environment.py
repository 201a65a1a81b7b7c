"""The UI environment talks HTTP only: it must not carry the serving or training stacks."""

import importlib.util

import flipkart_ui


def test_package_imports() -> None:
    assert flipkart_ui.__doc__


def test_ui_does_not_import_backend_or_frameworks() -> None:
    for name in ("flipkart_api", "onnxruntime", "torch", "tensorflow"):
        assert importlib.util.find_spec(name) is None, name
