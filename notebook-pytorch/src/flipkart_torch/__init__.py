"""PyTorch lab: MambaVision and timm models on the Flipkart split."""
