"""The audit log's CSV rows, shared by the REST export (``services.audit``) and the CLI
(``modelbay audit --csv``), so both write the same columns the same way. Standard library
only: the CLI imports it without the server's dependencies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: The columns of the CSV export.
CSV_COLUMNS = ("id", "time", "actor", "action", "subject", "before", "after")


#: What a spreadsheet reads as the start of a formula in a cell (OWASP's CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_row(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """One event as a row of :data:`CSV_COLUMNS`: the time in ISO 8601 UTC, ``before`` and
    ``after`` as JSON (empty when none). A text cell that a spreadsheet would run as a
    formula (a name chosen to start with ``=``) starts with ``'`` instead, as OWASP advises."""
    before, after = event["before"], event["after"]
    return (
        event["id"],
        datetime.fromtimestamp(event["time"], UTC).isoformat(),
        _inert(event["actor"]),
        event["action"],
        _inert(event["subject"]),
        "" if before is None else json.dumps(before, sort_keys=True),
        "" if after is None else json.dumps(after, sort_keys=True),
    )


def _inert(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text
