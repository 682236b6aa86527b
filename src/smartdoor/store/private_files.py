"""DATA_DIR belongs to the backend's user alone: the folder is 0700, every file in it 0600.

Files are created with their final mode (os.open / os.mkdir with a mode; a umask can only take
bits away from it), never created and chmod-ed afterwards, so there is no moment at which
another local user could open one. Child processes that write into DATA_DIR (the database)
are started with PRIVATE_UMASK for the same reason: WiredTiger creates its files with the
usual 0666 & ~umask, also later while it runs (log files, new tables).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("smartdoor.store")

PRIVATE_UMASK = 0o077  # for child processes: whatever they create is theirs alone
DIR_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # the group and other permission bits


class DataDirRefused(RuntimeError):
    """DATA_DIR cannot be made private; the message says why in one line."""


def secure_data_dir(path: Path) -> None:
    """Create DATA_DIR 0700, or tighten an existing one (and everything in it) to 0700/0600.

    A folder owned by another user is refused: its owner could swap our files at will."""
    path.parent.mkdir(parents=True, exist_ok=True)  # the parents are not ours to restrict
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, DIR_MODE)
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise DataDirRefused(f"DATA_DIR {path} is not a directory")
    if info.st_uid != os.geteuid():
        raise DataDirRefused(
            f"DATA_DIR {path} belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()}): "
            "refusing to keep the database there"
        )
    tightened, skipped = _tighten_tree(path)
    if tightened or skipped:
        log.warning(
            "DATA_DIR %s was readable by other users: tightened %d entries to 0700/0600%s",
            path,
            tightened,
            f" ({skipped} not ours, left as they are)" if skipped else "",
        )


def _tighten_tree(root: Path) -> tuple[int, int]:
    """Take group/other bits off root and everything below it (symlinks are not followed)."""
    tightened = skipped = 0
    paths = [str(root)]
    for directory, dirnames, filenames in os.walk(root):
        paths.extend(os.path.join(directory, name) for name in (*dirnames, *filenames))
    for entry in paths:
        try:
            info = os.lstat(entry)
        except FileNotFoundError:  # removed meanwhile (the database rotates its log files)
            continue
        if stat.S_ISLNK(info.st_mode) or not info.st_mode & _OTHERS:
            continue
        if info.st_uid != os.geteuid():
            skipped += 1
            continue
        if _chmod_no_follow(entry, stat.S_IMODE(info.st_mode) & ~_OTHERS):
            tightened += 1
    return tightened, skipped


def _chmod_no_follow(path: str, mode: int) -> bool:
    """chmod through a descriptor opened with O_NOFOLLOW: a symlink swapped in after the lstat
    above is refused instead of followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # gone, a symlink now, or a socket: nothing to read through it anyway
        return False
    try:
        os.fchmod(fd, mode)
        return True
    finally:
        os.close(fd)


def open_private(path: Path, flags: int) -> int:
    """os.open with the file created 0600 (an existing file keeps its mode; the tree walk above
    has already tightened it). Never follows a symlink planted in its place."""
    return os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)


def write_private(path: Path, data: bytes) -> None:
    """Replace path atomically with data, in a file that is 0600 from its first byte."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = open_private(temporary, os.O_WRONLY | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
