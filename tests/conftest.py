"""Shared fixtures: a throwaway copy of the project, so CLI runs never write into the repo."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: A demo small enough for a CLI run in seconds: 8x8 frames with 32x32 truth.
TINY_DEMO_PARAMS = (
    "ingestion.demo.people=4,ingestion.demo.lookalike_group_size=2,"
    "ingestion.demo.videos_per_person=4,ingestion.demo.sequences_per_video=2,"
    "ingestion.demo.frames_per_sequence=3,ingestion.demo.hr_size=32,ingestion.workers=1,"
    "srgan.generator.blocks=1,srgan.generator.channels=8,srgan.discriminator.channels=8,"
    "srgan.pretrain_steps=4,srgan.gan_steps=2,srgan.batch_size=4,srgan.eval_every=3,srgan.checkpoint_every=3"
)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project's conf and pyproject in a temp folder, with empty data folders."""
    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", dest)
    shutil.copy(PROJECT_ROOT / ".telemetry", dest)
    shutil.copytree(PROJECT_ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("credentials*"))
    # The package itself comes from the (editable) install; kedro only needs the folder to exist.
    (dest / "src").mkdir()
    for folder in (PROJECT_ROOT / "data").iterdir():
        if folder.is_dir():
            (dest / "data" / folder.name).mkdir(parents=True)
    return dest
