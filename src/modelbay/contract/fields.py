"""Field types for the edge: what every request string, integer and JSON value must obey."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from modelbay.names import check_path

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain lone surrogates (invalid unicode)") from None
    return value


#: Any string a user sends: no NUL (PostgreSQL refuses it), no lone surrogate (no encoder
#: can write it out again).
Text = Annotated[str, AfterValidator(_clean)]
#: A file's path inside an artifact (relative, no ``..``; InvalidPathError otherwise).
FilePath = Annotated[str, AfterValidator(check_path)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
JsonObject = dict[str, Any]
