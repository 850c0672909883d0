"""Calling an operation: the one place where a declared operation meets its service method.

Both the embedded transport and the server call :func:`invoke`, so that an operation checks
the same access rule and returns the same result whichever way it is reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelbay.contract.operations import Access, Operation
from modelbay.contract.requests import Request
from modelbay.errors import PermissionDeniedError

if TYPE_CHECKING:
    from modelbay.services import Services
    from modelbay.services.core import Principal


def invoke(
    services: Services, op: Operation[Any, Any], principal: Principal, request: Request
) -> tuple[Any, bool]:
    """Call ``op``'s service method as ``principal``; returns the JSON-shaped result and
    whether it created something (for 201).

    Raises:
        PermissionDeniedError: the operation is for organization admins only.
        ModelbayError: whatever the service raises.
    """
    if op.access is Access.ADMIN and not principal.is_admin:
        # The summary is a sentence ("Create a user ...") or a noun phrase ("The
        # organization's audit log ..."), so it follows the operation's name.
        raise PermissionDeniedError(
            f"only organization admins may call {op.name!r}: {op.summary}",
            {"operation": op.name, "needed_role": "organization admin"},
        )
    group, method = op.service.split(".")
    result = getattr(getattr(services, group), method)(principal, **request.service_args())
    created = False
    if op.creates:
        result, created = result
    if op.wraps is not None:
        result = {op.wraps: result}
    return result, created
