"""The one exception tree of modelbay, shared by the services, the server, the SDK and the CLI.

    ModelbayError                       code            HTTP
    ├── InvalidInputError               invalid_input   400
    │   ├── InvalidNameError            invalid_name    400
    │   ├── InvalidPathError            invalid_path    400
    │   ├── InvalidReferenceError       invalid_reference 400
    │   └── DigestMismatchError         digest_mismatch 400
    ├── CommError                       comm_error      500 (W&B's name: a call that failed)
    │   ├── AuthenticationError         unauthenticated 401
    │   ├── PermissionDeniedError       permission_denied 403
    │   ├── NotFoundError               not_found       404
    │   ├── ConflictError               conflict        409
    │   │   └── AlreadyExistsError      already_exists  409
    │   ├── PayloadTooLargeError        too_large       413
    │   ├── RateLimitedError            rate_limited    429
    │   ├── ServerError                 internal        500
    │   │   └── StorageFullError        storage_full    507
    │   └── TransportError              transport       (client side: the server was not reached)
    └── MissingExtraError               missing_extra   (a part used without its pip extra)

Every error serialises as ``{"error": {"code", "message", "details"}}``; :func:`from_payload`
turns that shape back into the same class, so that the SDK over HTTP raises what the
service raised. ``Error`` and ``UsageError`` are W&B's names for ``ModelbayError`` and
``InvalidInputError``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ModelbayError(Exception):
    """Base of every error modelbay raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_payload(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInputError(ModelbayError):
    """The request is malformed or breaks a rule about its values."""

    code = "invalid_input"
    status = 400


class InvalidNameError(InvalidInputError):
    """A project, artifact, registry, collection, alias or tag name is not allowed."""

    code = "invalid_name"


class InvalidPathError(InvalidInputError):
    """A file path inside an artifact is absolute, climbs out with ``..`` or is malformed."""

    code = "invalid_path"


class InvalidReferenceError(InvalidInputError):
    """A reference such as ``project/name:alias`` cannot be parsed."""

    code = "invalid_reference"


class DigestMismatchError(InvalidInputError):
    """Bytes do not hash to the sha256 they were promised or stored under."""

    code = "digest_mismatch"


class CommError(ModelbayError):
    """A call to the server (or, embedded, to the store) failed: W&B's name for it, which
    its users catch around API calls (``except wandb.CommError``). Raised as one of its
    subclasses."""

    code = "comm_error"
    status = 500


class AuthenticationError(CommError):
    """No API key, or one the server does not know."""

    code = "unauthenticated"
    status = 401


class PermissionDeniedError(CommError):
    """The principal is known but may not do this."""

    code = "permission_denied"
    status = 403


class NotFoundError(CommError):
    """The named thing does not exist (or is deleted)."""

    code = "not_found"
    status = 404


class ConflictError(CommError):
    """The change contradicts the current state (e.g. deleting a linked version)."""

    code = "conflict"
    status = 409


class AlreadyExistsError(ConflictError):
    """Something with that name exists already."""

    code = "already_exists"


class PayloadTooLargeError(CommError):
    code = "too_large"
    status = 413


class RateLimitedError(CommError):
    code = "rate_limited"
    status = 429


class ServerError(CommError):
    """An unexpected failure on the server; the details are in its log."""

    code = "internal"
    status = 500


class StorageFullError(ServerError):
    """The server's storage has no room (its disk or quota is full); nothing was stored.
    The same call succeeds once space is freed (``modelbay gc``, a larger disk)."""

    code = "storage_full"
    status = 507


class TransportError(CommError):
    """The server could not be reached or answered with something that is not modelbay's."""

    code = "transport"
    status = 503


class SchemaMismatchError(ModelbayError):
    """The database's schema is not the one this modelbay needs (run ``modelbay db upgrade``,
    or upgrade modelbay when the database is newer)."""

    code = "schema_mismatch"
    status = 503


class MissingExtraError(ModelbayError):
    """A part of modelbay was used without the extra that installs it (the server, the
    PostgreSQL driver, the S3 client); the message names the ``pip install`` to run."""

    code = "missing_extra"
    status = 500


def _all_subclasses(cls: type[ModelbayError]) -> list[type[ModelbayError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


ERRORS_BY_CODE: dict[str, type[ModelbayError]] = {c.code: c for c in _all_subclasses(ModelbayError)}


#: W&B's names for what its users catch: ``except wandb.Error`` (every modelbay error),
#: ``except wandb.UsageError`` (a bad argument); ``wandb.CommError`` is the class above.
Error = ModelbayError
UsageError = InvalidInputError


def from_payload(payload: Any, status: int) -> ModelbayError:
    """Rebuild the error a server serialised; unknown shapes become a fitting generic class."""
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        cls = ERRORS_BY_CODE.get(err["code"])
        if cls is None:
            cls = _class_for_status(status)
        details = err.get("details")
        return cls(str(err.get("message", "")), details if isinstance(details, dict) else None)
    return _class_for_status(status)(f"unexpected response from server (HTTP {status})")


def _class_for_status(status: int) -> type[ModelbayError]:
    for cls in (
        InvalidInputError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        PayloadTooLargeError,
        RateLimitedError,
    ):
        if cls.status == status:
            return cls
    if status == 422:
        return InvalidInputError
    return ServerError if status >= 500 else ModelbayError
