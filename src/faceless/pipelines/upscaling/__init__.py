"""Upscaling: every split 4x with the SR generator and with bicubic, cached as memory-mapped arrays."""
