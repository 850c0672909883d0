"""What ``Artifact.get_path``/``get_entry`` and ``Artifact.collection`` return: one file of
a version, and the sequence a version belongs to, with W&B's attribute names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelbay.errors import InvalidInputError

if TYPE_CHECKING:
    from modelbay.sdk.artifact import Artifact


class ArtifactEntry:
    """One file of a logged version (W&B's ``ArtifactManifestEntry``)."""

    def __init__(self, artifact: Artifact, path: str, digest: str, size: int, ref: str | None):
        self._artifact = artifact
        self.path = path
        self.digest = digest
        self.size = size
        self.ref = ref

    @property
    def name(self) -> str:
        return self.path

    def ref_url(self) -> str:
        """The URI a reference entry points at.

        Raises:
            InvalidInputError: the entry is a stored file, not a reference.
        """
        if self.ref is None:
            raise InvalidInputError(f"{self.path} is a stored file, not a reference")
        return self.ref

    def download(self, root: str | os.PathLike[str] | None = None) -> str:
        """Fetch this file (verified) under ``root`` (default: the version's folder) and
        return its local path."""
        folder = self._artifact.download(root, path_prefix=self.path)
        return str(Path(folder) / self.path)

    def __repr__(self) -> str:
        return f"<ArtifactEntry {self.path} {self.size} bytes>"


@dataclass(frozen=True)
class ArtifactCollectionRef:
    """The sequence a version belongs to (``Artifact.collection``): the artifact in its
    project, or the registry collection it was reached through."""

    name: str
    type: str
    project: str
    entity: str | None = None
    is_registry: bool = False

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


def _iso(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 in UTC (``2026-12-07T08:00:00.123456Z``)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
