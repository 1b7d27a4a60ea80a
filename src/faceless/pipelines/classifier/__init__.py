"""Classifier stage: the same recipe trained on each input variant, once per seed of classifier.seeds."""
