"""One sub-package per mission stage; each has ``nodes.py`` (pure functions) and ``pipeline.py``."""
