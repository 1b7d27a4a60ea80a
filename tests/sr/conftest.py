"""Fixtures of the SR engine's tests."""
from __future__ import annotations

import pytest

from .helpers import frame_data


@pytest.fixture(scope="module")
def data():
    return frame_data()
