"""Frames: stores (folder, tar), layouts, scanning and loading, sampling, the demo renderer, and
(``datasets``, the only module here that imports Kedro) the project's catalog datasets."""

#: The sides of the split, in the order every stage lists them.
SIDES = ("train", "val", "test")
