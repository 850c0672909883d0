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


def csv_row(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """One event as a row of :data:`CSV_COLUMNS`: the time in ISO 8601 UTC, ``before`` and
    ``after`` as JSON (empty when none)."""
    before, after = event["before"], event["after"]
    return (
        event["id"],
        datetime.fromtimestamp(event["time"], UTC).isoformat(),
        event["actor"],
        event["action"],
        event["subject"],
        "" if before is None else json.dumps(before, sort_keys=True),
        "" if after is None else json.dumps(after, sort_keys=True),
    )
