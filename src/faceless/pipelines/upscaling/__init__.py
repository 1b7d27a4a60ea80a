"""Upscaling: every split 4x with the SR generators and with bicubic, cached as memory-mapped arrays;
and the clean64 frames (the truth area-downscaled, no JPEG)."""
