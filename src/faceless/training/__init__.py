"""What both trainers (sr/, recognition/) share: the training loop (progress, eval, checkpoints,
resume), device and precision choice, and the tracker interface engines report through."""
