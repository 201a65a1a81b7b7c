"""Model definitions and converters; importing a module registers its models with timm."""
