"""Where frame files live: a folder, or an uncompressed ``.tar`` archive read in place.

A store lists its entries by relative POSIX path and opens them by that path; the layout parsers
(:mod:`faceless.data.layouts`) never see the difference. Each frame's ``path`` in the frame index
is a *locator* that :func:`open_frame` opens again later:

* folder: the file's absolute path;
* archive: ``<absolute archive path>::<member name>`` (the ``::`` of fsspec's chained URLs).

An archive is indexed once (member name, data offset, size), the index cached beside it as
``<archive>.index.parquet`` and keyed by the archive's size and modification time; members are
then read with one ``pread`` each, never extracted. Member names that are absolute or climb out
with ``..`` are refused, as are links, devices and sparse members: they are counted in the report
and can never be opened, so nothing can be written or read outside the archive through them.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import stat
import tarfile
import threading
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pandas as pd

from faceless.utils.errors import ConfigError
from faceless.utils.atomic import OWNED_MARKER, atomic_path
from faceless.utils.progress import tqdm

logger = logging.getLogger(__name__)

ARCHIVE_SEPARATOR = "::"
INDEX_SUFFIX = ".index.parquet"
#: Bump when the index file's content changes meaning.
INDEX_VERSION = 1
EXAMPLES_PER_KIND = 20
#: The largest archive member read as a frame (a header can declare 10^12 bytes; a frame is KBs).
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # refused members, stray files, non-matching folders
_COMPRESSED_MAGIC = {
    b"\x1f\x8b": ("gzip", "gunzip -k"),
    b"BZh": ("bzip2", "bunzip2 -k"),
    b"\xfd7zXZ\x00": ("xz", "unxz -k"),
    b"\x28\xb5\x2f\xfd": ("zstd", "unzstd"),
}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


class ExampleCounter:
    """Counts occurrences and keeps the first few examples, for the report."""

    def __init__(self, max_examples: int = EXAMPLES_PER_KIND) -> None:
        self.count = 0
        self.examples: list[str] = []
        self._max_examples = max_examples

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < self._max_examples:
            self.examples.append(example)

    def as_dict(self) -> dict:
        return {"count": self.count, "examples": list(self.examples)}


@dataclass(frozen=True)
class Listing:
    """Every regular file and folder of a store, as sorted relative POSIX paths."""

    files: list[str]
    dirs: list[str]
    refused: dict = field(default_factory=lambda: {"count": 0, "examples": []})


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member name must not be used (absolute, or climbing out), else None."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    parts = re.split(r"[\\/]+", name)
    if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        return "absolute name"
    if ".." in parts:
        return "'..' in name"
    return None


def _undecodable(name: str) -> str | None:
    """Why a name read from the disk cannot be used: bytes that are not UTF-8 (Python keeps them as
    lone surrogates, which no report, index or parquet file can hold)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not UTF-8"
    return None


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _os_reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _clean_member_name(name: str) -> str:
    # `tar -C dir -cf x.tar .` stores "./person_1/..."; the "./" says nothing.
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "" if name == "." else name


# --------------------------------------------------------------------------- folders


class FolderStore:
    """Frames as files under a folder.

    The walk trusts nothing it finds: regular files only (a FIFO, device or socket is refused, never
    opened: opening a FIFO would wait forever); a folder symlink is never followed (no loops, no
    escape), a file symlink only when it resolves to a regular file inside the root; a folder that
    cannot be read (permissions, a name too long, a loop) and a name that is not UTF-8 are refused.
    Each refusal is counted with its reason (``refused_members`` in the report), never fatal."""

    kind = "folder"

    def __init__(self, root: str, config_name: str = "ingestion.root") -> None:
        self.root = root
        self.config_name = config_name
        self._real_root = os.path.realpath(root)
        self._refused = ExampleCounter()

    def listing(self) -> Listing:
        files: list[str] = []
        dirs: list[str] = []
        self._refused = refused = ExampleCounter()
        stack = [("", self.root)]
        while stack:
            rel, folder = stack.pop()
            try:
                with os.scandir(folder) as scan:
                    entries = list(scan)
            except OSError as err:
                if not rel:
                    raise ConfigError(f"{self.config_name}: '{folder}' cannot be read: {_os_reason(err)}") from None
                refused.add(f"{rel.rstrip('/')!r}: unreadable folder ({_os_reason(err)})")
                continue
            for entry in entries:
                relpath = f"{rel}{entry.name}"
                why = _undecodable(entry.name)
                if why is None:
                    try:
                        why = self._entry_kind(entry, relpath, files, dirs, stack)
                    except OSError as err:
                        why = f"unreadable ({_os_reason(err)})"
                if why is not None:
                    refused.add(f"{_printable(relpath)!r}: {why}")
        files.sort()
        dirs.sort()
        return Listing(files, dirs, refused.as_dict())

    def _entry_kind(self, entry: os.DirEntry, relpath: str, files: list[str], dirs: list[str],
                    stack: list[tuple[str, str]]) -> str | None:
        """File the entry where it belongs; the reason it is refused, or None."""
        if entry.is_symlink():
            if entry.is_dir():  # follows the link: a folder link is never walked
                return "folder symlink (never followed)"
            target = os.path.realpath(entry.path)
            if os.path.commonpath([target, self._real_root]) != self._real_root:
                return "symlink out of the root"
            if not os.path.isfile(target) or not stat.S_ISREG(os.stat(target).st_mode):
                return "symlink to something other than a regular file"
            files.append(relpath)
            return None
        if entry.is_dir(follow_symlinks=False):
            dirs.append(relpath)
            stack.append((relpath + "/", entry.path))
            return None
        if entry.is_file(follow_symlinks=False):
            if entry.name != OWNED_MARKER:  # the mark of a tree this project wrote: not data
                files.append(relpath)
            return None
        return "not a regular file (FIFO, device or socket)"

    def listing_refused(self) -> dict:
        return self._refused.as_dict()
    def locator(self, relpath: str) -> str:
        return os.path.join(self.root, *relpath.split("/"))

    def size(self, relpath: str) -> int:
        return os.stat(self.locator(relpath)).st_size

    def open(self, relpath: str) -> BinaryIO:
        return open(self.locator(relpath), "rb")


# --------------------------------------------------------------------------- archives


class TarStore:
    """Frames as members of an uncompressed tar archive, read by offset without extracting."""

    kind = "tar"

    def __init__(self, archive: str, index: pd.DataFrame, dirs: list[str], refused: dict) -> None:
        self.root = archive
        self._names = pd.Index(index["name"].to_numpy(dtype=object))
        self._offsets = index["offset"].to_numpy(dtype=np.int64)
        self._sizes = index["size"].to_numpy(dtype=np.int64)
        self._dirs = dirs
        self._refused = refused
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)

    def __len__(self) -> int:
        return len(self._names)

    def listing(self) -> Listing:
        return Listing(sorted(self._names), sorted(self._dirs), self._refused)

    def listing_refused(self) -> dict:
        return dict(self._refused)

    def locator(self, relpath: str) -> str:
        return f"{self.root}{ARCHIVE_SEPARATOR}{relpath}"

    def _row(self, relpath: str) -> int:
        # get_loc is a hash lookup (~1 us); get_indexer([name]) built an index per call (~60 us).
        try:
            return int(self._names.get_loc(relpath))
        except KeyError:
            raise FileNotFoundError(f"'{relpath}' is not a readable member of '{self.root}'") from None

    def size(self, relpath: str) -> int:
        return int(self._sizes[self._row(relpath)])

    def read(self, relpath: str) -> bytes:
        row = self._row(relpath)
        if self._fd is None:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        size, offset = int(self._sizes[row]), int(self._offsets[row])
        # A header may declare any size: checked against the archive before a buffer is allocated.
        if size > MAX_MEMBER_BYTES:
            raise OSError(f"'{relpath}' in '{self.root}' declares {size} bytes, over {MAX_MEMBER_BYTES}")
        if offset + size > os.fstat(self._fd).st_size:
            raise OSError(f"'{relpath}' is cut short in '{self.root}' (declares {size} bytes past the archive's end)")
        # pread is positionless, so threads can share the descriptor.
        data = os.pread(self._fd, size, offset)
        if len(data) != self._sizes[row]:
            raise OSError(f"'{relpath}' is cut short in '{self.root}' (archive truncated?)")
        return data

    def open(self, relpath: str) -> BinaryIO:
        return io.BytesIO(self.read(relpath))


def _check_uncompressed(archive: str, config_name: str) -> None:
    with open(archive, "rb") as handle:
        head = handle.read(8)
    for magic, (kind, command) in _COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            raise ConfigError(
                f"{config_name}: '{archive}' is {kind}-compressed; frames are read by offset, which "
                f"needs an uncompressed .tar (unpack it once: {command} '{archive}')"
            )


def _archive_key(archive: str) -> dict:
    stat = os.stat(archive)
    return {"version": INDEX_VERSION, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _scan_members(archive: str, config_name: str, progress: bool) -> tuple[pd.DataFrame, list[str], dict]:
    """Read every member header once: (name, offset, size) of the usable files, dirs, refusals."""
    names: list[str] = []
    offsets: list[int] = []
    sizes: list[int] = []
    dirs: list[str] = []
    refused = ExampleCounter()

    def refuse(name: str, why: str) -> None:
        refused.add(f"{name!r}: {why}")

    total = os.path.getsize(archive)
    try:
        with tarfile.open(archive, mode="r:") as tar, tqdm(
            total=total, unit="B", unit_scale=True, desc="indexing archive", disable=not progress
        ) as bar:
            while (member := _next_member(tar, archive)) is not None:
                # tarfile keeps every TarInfo it has read; 500k of them would hold ~300 MB.
                tar.members.clear()
                bar.update(tar.offset - bar.n)
                why = _undecodable(member.name) or unsafe_member_reason(member.name)
                if why is not None:
                    refuse(_printable(member.name), why)
                    continue
                name = _clean_member_name(member.name)
                if member.isdir():
                    if name:
                        dirs.append(name)
                elif member.issym() or member.islnk():
                    refuse(member.name, "link")
                elif not member.isreg():
                    refuse(member.name, "not a regular file")
                elif member.issparse():
                    refuse(member.name, "sparse member")
                elif name:
                    names.append(name)
                    offsets.append(member.offset_data)
                    sizes.append(member.size)
            end = tar.offset
    except tarfile.ReadError as err:
        raise ConfigError(f"{config_name}: '{archive}' is not a readable tar archive ({err})") from err
    lost = _bytes_lost_at_end(archive, end, total)
    if lost:
        # tarfile ends quietly at a header cut short or damaged: what followed is gone, say how much.
        refuse("(end of archive)", f"ends in a damaged or cut-short header at byte {end}: the {lost} bytes "
                                   "after it (their members) were not read")
        logger.warning("'%s' ends in a damaged or cut-short header at byte %d: %d bytes after it were not read",
                       archive, end, lost)
    index = pd.DataFrame({"name": names, "offset": np.asarray(offsets, dtype=np.int64),
                          "size": np.asarray(sizes, dtype=np.int64)})
    # A later member of the same name wins, as when a tar is extracted.
    index = index.drop_duplicates("name", keep="last").sort_values("name").reset_index(drop=True)
    return index, sorted(set(dirs)), refused.as_dict()


def _bytes_lost_at_end(archive: str, end: int, total: int) -> int:
    """Bytes after the last member header read that are not the archive's zero end blocks (0: the
    archive ends as a tar should, or only its zero padding is missing)."""
    with open(archive, "rb") as handle:
        handle.seek(end)
        tail = handle.read(2 * tarfile.BLOCKSIZE)
    return 0 if not tail.strip(b"\0") else total - end


def _next_member(tar: tarfile.TarFile, archive: str) -> tarfile.TarInfo | None:
    """The next member header, or None at the end; an archive cut short ends where it is cut (the
    member cut in its data is still listed, and fails to read as a counted skip)."""
    try:
        return tar.next()
    except tarfile.ReadError as err:
        if tar.offset == 0:
            raise
        logger.warning("'%s' ends early (%s): indexed the members before the cut", archive, err)
        return None


def _index_path(archive: str) -> str:
    return archive + INDEX_SUFFIX


def _read_index(archive: str, key: dict) -> tuple[pd.DataFrame, list[str], dict] | None:
    path = _index_path(archive)
    if not os.path.exists(path):
        return None
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"faceless"])
    except Exception:  # unreadable or foreign file: rebuild it
        return None
    if meta.get("key") != key:
        return None
    return table.to_pandas(), meta["dirs"], meta["refused"]


def _write_index(archive: str, key: dict, index: pd.DataFrame, dirs: list[str], refused: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(index, preserve_index=False)
    meta = {"key": key, "dirs": dirs, "refused": refused}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                          b"faceless": json.dumps(meta).encode()})
    try:
        with atomic_path(_index_path(archive)) as temporary:
            pq.write_table(table, temporary)
    except OSError as err:  # read-only medium: index again next time, say so
        logger.warning("cannot cache the archive index beside '%s' (%s); it will be rebuilt next run",
                       archive, err)


_OPEN_ARCHIVES: dict[str, tuple[dict, TarStore]] = {}
_OPEN_LOCK = threading.Lock()


def open_archive(archive: str, config_name: str = "ingestion.root", progress: bool = True) -> TarStore:
    """The archive's store: its cached index when still valid, else indexed now (and cached)."""
    archive = os.path.abspath(archive)
    key = _archive_key(archive)
    with _OPEN_LOCK:
        known = _OPEN_ARCHIVES.get(archive)
        if known is not None and known[0] == key:
            return known[1]
        _check_uncompressed(archive, config_name)
        cached = _read_index(archive, key)
        if cached is None:
            index, dirs, refused = _scan_members(archive, config_name, progress)
            _write_index(archive, key, index, dirs, refused)
            logger.info("indexed %d members of '%s'", len(index), archive)
        else:
            index, dirs, refused = cached
        if refused["count"]:
            logger.warning("%d members of '%s' refused (unsafe names, links or special files), e.g. %s",
                           refused["count"], archive, refused["examples"][0])
        store = TarStore(archive, index, dirs, refused)
        _OPEN_ARCHIVES[archive] = (key, store)
        return store


# --------------------------------------------------------------------------- entry points


def is_archive_path(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(".tar")


def open_store(root: str | os.PathLike, config_name: str, hint: str,
               progress: bool = True) -> FolderStore | TarStore:
    """A folder or ``.tar`` root as a store; ConfigError naming ``config_name`` if it is neither."""
    if "\x00" in os.fspath(root):
        raise ConfigError(f"{config_name}: {os.fspath(root)!r} contains a NUL character; no file can have that name")
    absolute = os.path.abspath(os.fspath(root))
    if not os.path.exists(absolute):
        raise ConfigError(f"{config_name}: '{absolute}' does not exist (expected a folder or .tar of {hint})")
    if os.path.isdir(absolute):
        return FolderStore(absolute, config_name)
    if not os.path.isfile(absolute):
        raise ConfigError(f"{config_name}: '{absolute}' is neither a folder nor a file")
    _check_uncompressed(absolute, config_name)
    if not (is_archive_path(absolute) or tarfile.is_tarfile(absolute)):
        raise ConfigError(f"{config_name}: '{absolute}' is not a folder or a .tar archive (expected {hint})")
    return open_archive(absolute, config_name, progress)


def split_locator(locator: str) -> tuple[str, str] | None:
    """(archive, member) for an archive locator, None for a plain file path."""
    archive, sep, member = locator.partition(ARCHIVE_SEPARATOR)
    # Any tar file is an archive (open_store accepts tars by content too), not only "*.tar".
    if sep and (is_archive_path(archive) or os.path.isfile(archive)):
        return archive, member
    return None


def open_frame(locator: str | os.PathLike) -> BinaryIO:
    """Open a frame index ``path``: a plain file, or ``<archive>.tar::<member>``."""
    locator = os.fspath(locator)
    parts = split_locator(locator)
    if parts is None:
        return open(locator, "rb")
    archive, member = parts
    return open_archive(archive, progress=False).open(member)
