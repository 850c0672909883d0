"""The one home for JSON that may hold NaN and the infinities (metric values).

JSON has no NaN or infinity; Python's ``json`` writes and reads them as ``NaN``,
``Infinity`` and ``-Infinity``, and so does the SDK. orjson is several times faster but
writes them as ``null`` and refuses to read them, so each function here tries orjson first
and falls back to the standard library only where it must.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from modelbay.errors import InvalidInputError

#: The deepest nesting :func:`loads` accepts by default. orjson refuses more than 1,024
#: levels itself; the standard library would recurse until the interpreter's stack ends.
MAX_DEPTH = 64
#: A JSON object where no entity model applies: a store row read as a mapping, a service's
#: answer before the edge validates it, a part of an upload plan. The one definition.
Info = dict[str, Any]
#: A JSON integer outside 64 bits: 20 digits or more, or a negative one of 19 or more (not
#: inside a string or another number). orjson reads it as a float, silently rounded; a
#: body holding one is read by the standard library instead, which keeps it an int, so
#: that the edge refuses it (``contract.fields.Int64``) rather than store another number.
_LONG_INTEGER = re.compile(rb'(?<![\w."])(?:-\d{19,}|\d{20,})(?![\w.])')


def dumps(obj: Any, *, nonfinite: bool = False) -> bytes:
    """``obj`` as compact JSON bytes.

    With ``nonfinite`` (the data may hold NaN or an infinity: metric values, summaries),
    those are written as ``NaN``/``Infinity``, as Python and the SDK read them; without it
    they become ``null``, as JSON has no such numbers. Integers beyond 64 bits and
    strings holding lone surrogates (which orjson refuses) go through the standard library.
    """
    if not nonfinite:
        try:
            return orjson.dumps(obj)
        except TypeError:  # a key that is not a string, an integer too big, a surrogate
            pass
    return json.dumps(obj, separators=(",", ":")).encode()


def loads(body: bytes | str, max_depth: int | None = MAX_DEPTH) -> Any:
    """The JSON value of ``body``; NaN and the infinities are read as floats.

    ``max_depth`` bounds the nesting (None: only the parsers' own bounds, for a caller that
    checks the shape itself). Never raises RecursionError. An integer beyond 64 bits is
    read as an int (Python's), for the edge's rules to refuse, not as a rounded float.

    Raises:
        InvalidInputError: malformed JSON, or nested deeper than ``max_depth``.
    """
    try:
        value = orjson.loads(body)
        if _LONG_INTEGER.search(body.encode() if isinstance(body, str) else body):
            raise orjson.JSONDecodeError("an integer beyond 64 bits", "", 0)
    except orjson.JSONDecodeError:
        # NaN, Infinity, an escaped lone surrogate, an integer beyond 64 bits; or malformed,
        # or nested too deep, which the standard library finds again (it stops at the
        # interpreter's recursion limit).
        try:
            value = json.loads(body)
        except RecursionError:
            raise InvalidInputError("JSON body nested too deeply") from None
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError("malformed JSON body") from None
    if max_depth is not None and too_deep(value, max_depth):
        raise InvalidInputError(f"JSON body nested deeper than {max_depth} levels")
    return value


def too_deep(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``max_depth`` deep (a scalar is
    depth 0, ``[]`` depth 1). Walks the containers without recursion."""
    level = [value]
    depth = 0
    while level:
        containers = [v for v in level if type(v) is dict or type(v) is list]
        if not containers:
            return False
        depth += 1
        if depth > max_depth:
            return True
        level = []
        for c in containers:
            level.extend(c.values() if type(c) is dict else c)
    return False
