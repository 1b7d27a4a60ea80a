"""Training helpers kept apart from the training loop: losses and image-quality metrics."""
