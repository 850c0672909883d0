"""Field types for the edge: what every request string, integer and JSON value must obey.

Each is a pydantic ``Annotated`` type, so a request model states its rules by the types of
its fields and FastAPI puts them in the spec. The limits are module constants:

- :data:`Text`: no NUL (PostgreSQL cannot store it) and no lone UTF-16 surrogate (no UTF-8
  encoder can write one out again: stored, it breaks every page and response showing it).
  :func:`text` adds a length bound.
- :data:`FilePath`: a file's path inside an artifact (see ``names.check_path``).
- :data:`Int64`: fits a signed 64-bit integer (a database ``BIGINT``).
- :data:`JsonObject`: config, summary, system facts and metadata: at most
  :data:`MAX_JSON_BYTES` once encoded, nested at most :data:`MAX_JSON_DEPTH` deep, every
  key and string value :data:`Text`, every integer an :data:`Int64`. NaN and the
  infinities are allowed (a summary holds metrics); :func:`json_object` makes variants.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from modelbay import jsontext
from modelbay.names import check_path

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: The most bytes a config, summary, system or metadata object takes as compact JSON: a
#: run listing returns every run's config and summary, so each must stay small.
MAX_JSON_BYTES = 1 << 20
#: The deepest nesting of such an object (the object itself is depth 1).
MAX_JSON_DEPTH = 32


def check_text(value: str) -> str:
    """``value`` if it holds no NUL and no lone surrogate; ValueError otherwise."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain lone surrogates (invalid unicode)") from None
    return value


#: Any string a user sends: no NUL (PostgreSQL refuses it), no lone surrogate (no encoder
#: can write it out again). Emoji, CJK and combining marks are all fine.
Text = Annotated[str, AfterValidator(check_text)]
#: A file's path inside an artifact (relative, no ``..``; InvalidPathError otherwise, which
#: refuses NUL and lone surrogates too).
FilePath = Annotated[str, AfterValidator(check_path)]
#: An integer a database BIGINT holds: from -2**63 to 2**63 - 1.
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


def text(max_len: int) -> Any:
    """:data:`Text` of at most ``max_len`` characters."""
    return Annotated[str, Field(max_length=max_len), AfterValidator(check_text)]


def check_json(
    value: Any,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    allow_nonfinite: bool = True,
) -> Any:
    """``value`` if it is JSON within the limits (see the module docstring); ValueError
    naming the first problem otherwise. Walks the value without recursion, so a value
    nested deeper than the interpreter's stack is refused, not a RecursionError."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            if depth > max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels")
            if kind is dict:
                for key, child in item.items():
                    if type(key) is not str:
                        raise ValueError("object keys must be strings")
                    _check_string(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif kind is str:
            _check_string(item)
        elif kind is int:
            if not INT64_MIN <= item <= INT64_MAX:
                raise ValueError("integers must fit in 64 bits")
        elif kind is float:
            if not allow_nonfinite and not math.isfinite(item):
                raise ValueError("must not hold NaN or infinity")
        elif item is not None and kind is not bool:
            raise ValueError(f"{kind.__name__} is not a JSON value")
    if len(jsontext.dumps(value, nonfinite=allow_nonfinite)) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes as JSON")
    return value


def _check_string(value: str) -> None:
    try:
        check_text(value)
    except ValueError as exc:
        raise ValueError(f"{exc}: {value[:40]!r}") from None


def json_object(
    max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH, allow_nonfinite: bool = True
) -> Any:
    """A JSON object type with its own limits (see :func:`check_json`)."""

    def check(value: dict[str, Any]) -> dict[str, Any]:
        return check_json(  # type: ignore[no-any-return]
            value, max_bytes=max_bytes, max_depth=max_depth, allow_nonfinite=allow_nonfinite
        )

    return Annotated[dict[str, Any], AfterValidator(check)]


#: Config, summary, system facts and metadata: see the module docstring for the limits.
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
