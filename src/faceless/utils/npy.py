"""``.npy`` files as the project maps them: their header, and whether an array is one of them, whole."""
from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np


def read_npy_header(path: str | os.PathLike) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, header bytes)`` of the ``.npy`` file at ``path``; ValueError for
    a file that is not one (or of an unknown format version), OSError where it cannot be read."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unknown .npy version {version}")
        shape, fortran_order, dtype = read_header(handle)
        return tuple(shape), fortran_order, dtype, handle.tell()


def whole_npy_file(data: object) -> Path | None:
    """The ``.npy`` file that ``data`` maps in full, as ``np.load(mmap_mode=...)`` returned it, else
    None. A slice or reshape of it is a view whose base is the parent array, not the mapping; a
    ``np.memmap`` of a raw file or of part of one, or a copy-on-write map (its changes live only in
    memory), is not that file's content either."""
    filename = getattr(data, "filename", None)
    if not (isinstance(data, np.memmap) and isinstance(data.base, mmap.mmap) and data.mode != "c" and filename):
        return None
    path = Path(filename)
    try:
        shape, fortran_order, dtype, header_size = read_npy_header(path)
        file_size = path.stat().st_size
    except (OSError, ValueError):
        return None
    contiguous = data.flags.f_contiguous if fortran_order else data.flags.c_contiguous
    whole = (shape == data.shape and dtype == data.dtype and contiguous and data.offset == header_size
             and file_size == header_size + data.nbytes)
    return path if whole else None
