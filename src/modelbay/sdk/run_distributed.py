"""W&B's distributed artifacts on a run: ``run.upsert_artifact`` and
``run.finish_artifact`` (a base of :class:`~modelbay.sdk.run.Run`).

Several runs (W&B: of one group) add files to one version of an artifact, keyed by a
``distributed_id`` that defaults to the run's group; one run finishes it, and only then
is it a version anyone can see. See :mod:`modelbay.services.distributed`.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelbay import names
from modelbay.contract import distributed as dist
from modelbay.contract import requests as rq
from modelbay.errors import UsageError
from modelbay.sdk.artifact import Artifact
from modelbay.sdk.transport import Transport


class DistributedArtifacts:
    """``upsert_artifact`` and ``finish_artifact`` of a run."""

    id: str
    project: str
    group: str | None

    def _online(self, what: str) -> Transport:
        raise NotImplementedError

    def upsert_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Add this artifact's files to the unfinished version shared under
        ``distributed_id`` (default: the run's group); :meth:`finish_artifact` makes it a
        version. ``aliases`` are applied by the finishing call's, as W&B's are.

        Raises:
            UsageError: no ``distributed_id`` and the run is in no group.
            ConflictError: that version is finished already.
        """
        artifact = self._artifact_of(artifact_or_path, name, type)
        transport, files = self._send(artifact, "upsert_artifact")
        request = dist.DistributedUpsert(
            project=self.project,
            name=artifact._name,
            distributed_id=self._distributed_id(distributed_id),
            type=artifact._type,
            files=files,
            run_id=self.id,
        )
        transport.call(dist.UPSERT_ARTIFACT, request)
        return artifact

    def finish_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Commit the version built under ``distributed_id`` (default: the run's group)
        from every file upserted into it plus this artifact's own, logged by this run;
        returns the artifact, now that version. Later upserts under the same id fail.

        Raises:
            UsageError: no ``distributed_id`` and the run is in no group.
            ConflictError: that version is finished already.
        """
        artifact = self._artifact_of(artifact_or_path, name, type)
        transport, files = self._send(artifact, "finish_artifact")
        wanted = set(names.check_aliases(aliases)) | set(artifact.aliases)
        request = dist.DistributedFinish(
            project=self.project,
            name=artifact._name,
            distributed_id=self._distributed_id(distributed_id),
            type=artifact._type,
            files=files,
            run_id=self.id,
            aliases=sorted(wanted - {names.LATEST}),
            description=artifact.description,
            metadata=artifact.metadata,
        )
        artifact._bind(transport, transport.call(dist.FINISH_ARTIFACT, request))
        return artifact

    def _distributed_id(self, given: str | None) -> str:
        found = given or self.group
        if not found:
            raise UsageError(
                "Cannot upsert artifact unless run is in a group or distributed_id is provided"
            )
        return found

    def _artifact_of(
        self, given: Artifact | str | os.PathLike[str], name: str | None, type_: str | None
    ) -> Artifact:
        if isinstance(given, Artifact):
            return given
        path = Path(given)
        artifact = Artifact(name or f"run-{self.id}-{path.name}", type_ or "unspecified")
        if path.is_dir():
            artifact.add_dir(path)
        else:
            artifact.add_file(path)
        return artifact

    def _send(self, artifact: Artifact, what: str) -> tuple[Transport, list[rq.FileEntry]]:
        """Upload what the server lacks of the artifact's files; their manifest entries."""
        from modelbay.sdk.transfer import upload

        transport = self._online(what)
        files, sources = artifact._manifest(transport)
        upload(transport, {f["sha256"]: f["size"] for f in files if not f.get("ref")}, sources)
        return transport, [rq.FileEntry(**f) for f in files]
