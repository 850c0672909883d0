"""Local directory trees an artifact is built from or downloaded into: walking one safely
(links kept inside it, a download's temporary files skipped)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

from modelbay.errors import InvalidPathError
from modelbay.sdk.streams import TEMP_NAME


def _within(real: str, root: str) -> bool:
    """Whether the resolved path ``real`` is ``root`` or below it."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _resolve(path: Path) -> Path:
    """``path.resolve()``, with a loop of links refused as a bad path (Python raises
    RuntimeError or OSError for one, depending on its version)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            raise
        raise InvalidPathError(f"{path} is a loop of links", {"path": str(path)}) from None


def _walk(root: Path, real_root: Path, *, confine: bool = True) -> Iterator[tuple[str, Path]]:
    """(relative posix path, path) of every regular file below root; with ``confine``,
    links must stay inside it (an upload must not send what lies outside; a reference, which
    sends nothing, may follow them anywhere). FIFOs, sockets, devices and dangling links are
    skipped.

    A download's temporary files (``.<name>.<12 hex digits>.part``, left by one killed or
    still running in that folder) are not the folder's files, and are skipped.

    Raises:
        InvalidPathError: a link points outside ``root`` (with ``confine``), or links form a
            loop.
    """
    seen: set[Path] = set()
    stack = [root]
    while stack:
        current = stack.pop()
        real = _resolve(current)
        if real in seen:
            continue
        seen.add(real)
        with os.scandir(current) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            path = Path(entry.path)
            if TEMP_NAME.fullmatch(entry.name):
                continue
            if entry.is_symlink():
                target = _resolve(path)
                if confine and not target.is_relative_to(real_root):
                    raise InvalidPathError(
                        f"{path} is a link to {target}, outside {root}", {"path": str(path)}
                    )
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()
            except OSError as exc:  # Python 3.13 reports a loop here, not in resolve()
                if exc.errno != errno.ELOOP:
                    raise
                raise InvalidPathError(f"{path} is a loop of links", {"path": str(path)}) from None
            if is_dir:
                stack.append(path)
            elif is_file:
                yield path.relative_to(root).as_posix(), path
