"""A run's files (W&B's ``wandb.save``), kept as versions of the artifact
``run-<id>-files``, which the public API's ``files()`` reads too."""

from __future__ import annotations

import glob as globbing
import os
import re
from pathlib import Path

from modelbay.errors import InvalidInputError
from modelbay.sdk.artifact import Artifact

#: The type of the artifact that holds a run's files.
RUN_FILES_TYPE = "run-files"


def files_artifact(
    run_id: str,
    glob_str: str | os.PathLike[str],
    base_path: str | os.PathLike[str] | None,
    policy: str,
) -> tuple[Artifact | None, list[str]]:
    """The draft of ``run-<run_id>-files`` holding the files ``glob_str`` matches, named
    relative to ``base_path`` (default: the glob's directory part), and their paths; None
    when nothing matches (which is said on stderr).

    Raises:
        InvalidInputError: ``policy`` is not "live", "now" or "end", or a file matched is
            not under ``base_path``.
    """
    if policy not in ("live", "now", "end"):
        raise InvalidInputError(f"save: policy must be 'live', 'now' or 'end', not {policy!r}")
    pattern = os.fspath(glob_str)
    if base_path is not None:
        base = Path(base_path)
    else:  # the directory part before the first wildcard
        fixed = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        base = Path(fixed).parent if fixed else Path(".")
    found = [Path(p) for p in sorted(globbing.glob(pattern, recursive=True))]
    files = [p for p in found if p.is_file()]
    if not files:
        from modelbay.sdk.run import _say

        _say(f"save: no files match {pattern!r}")
        return None, []
    artifact = Artifact(f"run-{run_id}-files", RUN_FILES_TYPE)
    saved = []
    for path in files:
        rel = os.path.relpath(path.absolute(), base.absolute())
        if rel.startswith(".."):
            raise InvalidInputError(f"save: {path} is not under base_path {base}")
        artifact.add_file(path, name=Path(rel).as_posix())
        saved.append(str(path))
    return artifact, saved
