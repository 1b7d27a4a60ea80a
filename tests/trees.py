"""Generated OrCam-layout trees of any frame size, grey or colour, with or without truth.

The demo renderer (:func:`faceless.data.synthetic.generate_demo`) draws each frame at 4x the asked
side (the truth, PNG) and area-downscales it (the frames, JPEG); here the frames are optionally
re-saved grey (PIL mode L), and the truth is handed to ingestion (``ingestion.hr_root``) or not.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from faceless.data.synthetic import DemoSize, generate_demo

SCALE = 4


def orcam_tree(root: Path, px: int, *, people: int = 4, videos: int | tuple[int, int] = 2, sequences: int = 2,
               frames: int = 3, grey: bool = False, seed: int = 0) -> tuple[Path, Path]:
    """(frames root, truth root) of a tree of ``px`` x ``px`` frames (truth ``4 * px``) under ``root``;
    ``videos``: a person's number of videos, or a [min, max] range drawn per person."""
    videos = (videos, videos) if isinstance(videos, int) else tuple(videos)
    size = DemoSize(people=people, lookalike_group_size=1, videos_per_person=videos,
                    sequences_per_video=(sequences, sequences), frames_per_sequence=(frames, frames),
                    hr_size=SCALE * px, scale=SCALE, jpeg_quality=(60, 90), seed=seed)
    generate_demo(root, size, workers=1, progress=False)
    if grey:
        for path in sorted((root / "lr").rglob("*.jpg")):
            Image.open(path).convert("L").save(path, quality=90)
    return root / "lr", root / "hr"
