"""Gradio app for the Flipkart catalogue classifier."""
