"""Classifier stage: the same recipe trained on each input variant (lr, bicubic, srgan, hr)."""
