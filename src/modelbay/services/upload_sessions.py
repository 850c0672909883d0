"""Upload sessions' rules shared by the blob service: who may use a session, what a
completion claims it to be, and what state a failed completion leaves it in."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from modelbay.blobs import UploadSession
from modelbay.errors import DigestMismatchError, InvalidInputError, ModelbayError, NotFoundError
from modelbay.jsontext import Info
from modelbay.services.core import Principal


def whole_blob(digest: str, size: int) -> Info:
    """An upload entry that says: send the whole blob in one request."""
    return {
        "id": None,
        "sha256": digest,
        "size": size,
        "part_size": size,
        "parts": [
            {
                "number": 1,
                "offset": 0,
                "size": size,
                "done": False,
                "url": None,
                "method": "PUT",
                "headers": {},
            }
        ],
    }


def may_use(row: dict[str, Any], principal: Principal) -> bool:
    """A session with a digest may be sent to and completed by anyone who may upload (clients
    sending the same new blob share it); a provisional one only by the user who opened it."""
    return row["sha256"] is not None or row["user_id"] == principal.user_id


def check_upload_id(upload_id: object) -> str:
    if (
        not isinstance(upload_id, str)
        or not (upload_id.isascii() and upload_id.isalnum())
        or len(upload_id) > 32
    ):
        raise InvalidInputError(f"invalid upload id {str(upload_id)[:40]!r}", {"field": "id"})
    return upload_id


def claimed_session(
    row: dict[str, Any] | None, principal: Principal, upload_id: str, sha256: str | None
) -> tuple[UploadSession, str]:
    """The session ``row`` describes, as its completion with ``sha256`` claims it to be, and
    its state.

    Raises:
        NotFoundError: no such upload, or not one this principal may use.
        InvalidInputError: a provisional session completed without ``sha256``, or another
            session with a ``sha256`` not its own.
    """
    if row is None or not may_use(row, principal):
        raise NotFoundError(f"upload {upload_id} not found")
    session = session_of(row)
    if session.sha256 is None:
        if sha256 is None:
            raise InvalidInputError(
                f"upload {upload_id} was opened without a digest: complete it with "
                "the file's sha256",
                {"field": "sha256"},
            )
        return replace(session, sha256=sha256), row["state"]
    if sha256 is not None and sha256 != session.sha256:
        raise InvalidInputError(
            f"upload {upload_id} is of blob {session.sha256[:12]}, not {sha256[:12]}",
            {"field": "sha256", "expected": session.sha256},
        )
    return session, row["state"]


def state_after(error: BaseException) -> str:
    """An upload's state once the store failed to finish it: ``failed`` when its bytes were
    wrong, ``aborted`` when the store says it cannot be resumed (the next plan opens a new
    session), else ``open`` again (complete it again later)."""
    if isinstance(error, DigestMismatchError):
        return "failed"
    if isinstance(error, NotFoundError):
        return "aborted"
    return "open"


def failed(upload_id: str, error: ModelbayError) -> Info:
    return {"id": upload_id, "stored": False, "error": error.to_payload()["error"]}


def session_of(row: dict[str, Any]) -> UploadSession:
    """The upload session a row of the ``uploads`` table describes."""
    return UploadSession(
        row["id"], row["sha256"], int(row["size"]), int(row["part_size"]), row["backend_id"]
    )
