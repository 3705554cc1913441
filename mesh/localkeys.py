"""Keys a local run makes for itself, once, in the data dir.

    key = load_or_create(data_dir / "page-token.key", lambda: secrets.token_bytes(32))

Several processes start at once (two replicas of a service, ``scripts/token``
beside ``scripts/run``), so a key is written under a temporary name and linked
into place: whoever links first wins and everyone reads the winner's key, never
a half-written file. Files are 0600 in a 0700 directory, and a key file that
others may read, or that is a symbolic link, is refused (as ssh refuses such
keys). Outside a local run keys come from the environment (Secrets Manager on AWS).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["MAX_KEY_FILE", "KeyFileError", "load_or_create", "read_private"]

MAX_KEY_FILE = 64 * 1024


class KeyFileError(ValueError):
    """A key file that cannot be used as it is; the message names the file and the fix."""


def read_private(path: Path) -> bytes:
    """The file's bytes, if it is a regular file only its owner may read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KeyFileError(
                f"{path}: a symbolic link; the key must be a file of its own"
            ) from None
        raise KeyFileError(f"{path}: cannot read the key: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{path}: not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"{path}: others may read it (mode {stat.S_IMODE(info.st_mode):04o}); "
                "chmod 600 it, or delete it to get a new key"
            )
        data = file.read(MAX_KEY_FILE + 1)
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path}: larger than {MAX_KEY_FILE} bytes; delete it to get a new key")
    return data


def load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The key at ``path``; ``make()`` is called (and its result stored) only when there is none."""
    try:
        return read_private(path)
    except FileNotFoundError:
        pass
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        # mkstemp makes the file 0600 before a byte of the key is in it.
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}-", suffix=".tmp")
    except OSError as exc:
        raise KeyFileError(f"{directory}: cannot write a key there: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(make())
            file.flush()
            os.fsync(file.fileno())
        # link() never replaces: a key another process put there first stays.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write the key: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    _fsync_directory(directory)
    try:
        return read_private(path)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: disappeared just after it was created") from None


def _fsync_directory(directory: Path) -> None:
    """Make the new name durable; best effort where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
