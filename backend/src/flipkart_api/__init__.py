"""Prediction service for the Flipkart catalogue classifier (FastAPI + ONNX Runtime)."""
