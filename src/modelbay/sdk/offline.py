"""Artifacts a run's sender uploads: an offline run's, and the tables and images any run
logs, staged in the run's directory and sent in order with its other records.

An offline run has no server, so ``log_artifact`` hashes the files and keeps their bytes
under ``<run dir>/blobs/<sha256>`` (stored once however many versions hold them, hard
links where the file system allows), and the journal gets, in order with the metric
points::

    {"artifact": {"client_id", "name", "type", "description", "metadata", "aliases",
                  "tags", "files": [{"path", "sha256", "size"} or a reference entry]}}
    {"link": {"client_id", "target": "model-registry/NAME", "aliases": [...]}}

``modelbay sync`` sends them in journal order: an artifact record uploads what the server
lacks and commits the version; a link record links the version its ``client_id`` became.
What each ``client_id`` became is kept in ``<run dir>/artifacts.json``, so that a sync cut
short and started again links the right version (a commit sent twice is one version: the
same content creates nothing new). A history value logged offline (a Table's reference)
names its artifact ``modelbay-client-artifact://<client_id>/<path>``, as W&B's client
does, and is sent with the version's name in its place. An online run stages the tables
and images it logs the same way, so that ``run.log`` never waits for their upload: its
sender commits them in the background, and the staged bytes go with the journal once sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelbay.blobs.digest import sha256_file
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import DigestMismatchError, InvalidInputError
from modelbay.sdk.media import ARTIFACT_SCHEME, Image, Media, Table, media_key
from modelbay.sdk.transport import Transport

if TYPE_CHECKING:
    from modelbay.sdk.artifact import Artifact

CLIENT_SCHEME = "modelbay-client-artifact://"
BLOBS = "blobs"
RESOLVED = "artifacts.json"


def stage(run_dir: Path, artifact: Artifact, aliases: list[str] | None) -> dict[str, Any]:
    """Hash an artifact's files, keep their bytes under ``run_dir/blobs``, and return the
    journal record's payload (its ``client_id`` is set on the artifact too).

    Raises:
        InvalidInputError, InvalidPathError: as logging the artifact would.
    """
    files, sources = artifact._manifest()
    blobs = run_dir / BLOBS
    blobs.mkdir(parents=True, exist_ok=True)
    own = set(artifact._digests)  # files the draft wrote itself: nobody rewrites them
    for digest, source in sources.items():
        target = blobs / digest
        if target.exists():
            continue
        tmp = blobs / f".{digest}.{uuid.uuid4().hex[:8]}.tmp"
        if source in own:
            try:
                os.link(source, tmp)
            except OSError:  # another file system
                shutil.copyfile(source, tmp)
        else:
            _copy_verified(source, tmp, digest)
        os.replace(tmp, target)
    client_id = uuid.uuid4().hex
    artifact._client_id = client_id
    return {
        "client_id": client_id,
        "name": artifact._name,
        "type": artifact.type,
        "description": artifact.description,
        "metadata": artifact.metadata,
        "aliases": sorted(set(aliases or []) | {a for a in artifact.aliases if a != "latest"}),
        "tags": list(artifact.tags),
        "files": files,
    }


def run_media(run_id: str, key: str, value: Media) -> tuple[Artifact, dict[str, Any], str]:
    """A Table or images logged under ``key`` as a draft of the run's artifact
    ``run-<id>-<key>`` (type ``run_table``, as W&B names it, or ``run_media``), with the
    history reference W&B keeps for it (``table-file``, ``image-file`` or
    ``images/separated``, without its ``artifact_path``) and the file that path names."""
    from modelbay.sdk.artifact import Artifact

    safe = media_key(key)
    artifact = Artifact(
        f"run-{run_id}-{safe}", "run_table" if isinstance(value, Table) else "run_media"
    )
    artifact.add(value, safe)
    stored = next(p for p in artifact._entries if p.startswith(safe + "."))
    if not isinstance(value, Table):
        ref = value.to_json()
        return artifact, ref, ref["path"] if isinstance(value, Image) else stored
    source = artifact._entries[stored]
    digest, size = artifact._digests.get(source) or sha256_file(source)
    ref = {
        "_type": "table-file",
        "ncols": len(value.columns),
        "nrows": len(value.data),
        "log_mode": "IMMUTABLE",
        "path": stored,
        "sha256": digest,
        "size": size,
    }
    return artifact, ref, stored


def _copy_verified(source: Path, target: Path, digest: str) -> None:
    """Copy a file (never a hard link: the script may rewrite it in place before sync),
    checking that its bytes still have the digest they were logged with.

    Raises:
        DigestMismatchError: the file changed since it was hashed.
    """
    h = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            dst.write(chunk)
    if h.hexdigest() != digest:
        target.unlink(missing_ok=True)
        raise DigestMismatchError(
            f"{source} changed while it was being logged; log it again", {"path": str(source)}
        )


class Resolver:
    """What each staged artifact of a run became on the server (``client_id`` -> ref)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / RESOLVED
        self.run_dir = run_dir
        try:
            self.refs: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.refs = {}

    def commit(self, transport: Transport, project: str, run_id: str, payload: Any) -> str:
        """Upload what the server lacks of a staged artifact and commit it; returns its ref.

        Raises:
            InvalidInputError: a staged blob is gone from the run directory.
        """
        from modelbay.sdk.transfer import upload

        files = [f for f in payload["files"] if isinstance(f, dict)]
        sizes = {f["sha256"]: int(f["size"]) for f in files if not f.get("ref")}
        sources = {d: self.run_dir / BLOBS / d for d in sizes}
        gone = [d for d, p in sources.items() if not p.is_file()]
        if gone:
            raise InvalidInputError(
                f"staged files of {payload.get('name')!r} are missing from {self.run_dir / BLOBS}",
                {"missing": gone[:20]},
            )
        upload(transport, sizes, sources, progress=False)
        request = rq.VersionCommit(
            project=project,
            name=payload["name"],
            type=payload["type"],
            files=[rq.FileEntry(**f) for f in files],
            description=payload.get("description"),
            metadata=payload.get("metadata") or {},
            aliases=payload.get("aliases") or [],
            tags=payload.get("tags") or [],
            run_id=run_id,
        )
        ref = transport.call(ops.COMMIT_VERSION, request).ref
        self.refs[str(payload["client_id"])] = ref
        tmp = self.path.with_name(f".{RESOLVED}.tmp")
        tmp.write_text(json.dumps(self.refs))
        os.replace(tmp, self.path)
        return ref

    def link(self, transport: Transport, payload: Any) -> None:
        """Link the version a staged artifact became.

        Raises:
            InvalidInputError: its artifact record was never committed.
        """
        from modelbay.sdk.artifact import parse_target

        ref = self.refs.get(str(payload.get("client_id")))
        if ref is None:
            raise InvalidInputError("a link to an artifact that was not uploaded")
        registry, collection = parse_target(str(payload["target"]))
        request = rq.Link(
            registry=registry, collection=collection, artifact=ref, aliases=payload.get("aliases")
        )
        transport.call(ops.LINK, request)

    def points(self, points: list[Any]) -> list[Any]:
        """``points`` with every ``modelbay-client-artifact://`` path named by its version."""
        return [[s, t, {k: self._value(v) for k, v in values.items()}] for s, t, values in points]

    def summary(self, summary: Any) -> Any:
        """A summary whose latest media references name their uploaded versions."""
        if not isinstance(summary, dict):
            return summary
        return {k: self._value(v) for k, v in summary.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, dict):
            path = value.get("artifact_path")
            if isinstance(path, str) and path.startswith(CLIENT_SCHEME):
                client_id, _, rest = path[len(CLIENT_SCHEME) :].partition("/")
                ref = self.refs.get(client_id)
                if ref is not None:
                    return {**value, "artifact_path": f"{ARTIFACT_SCHEME}{ref}/{rest}"}
        return value
