"""Upscaling: each variant's input for every split (4x by its generator or bicubic, or the truth
area-downscaled), cached as memory-mapped arrays."""
