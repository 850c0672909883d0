"""The edge's field types (modelbay.contract.fields) and JSON with non-finite numbers
(modelbay.jsontext): each rule refuses what it names and keeps everything else."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from modelbay import jsontext
from modelbay.contract.fields import (
    INT64_MAX,
    INT64_MIN,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    Int64,
    JsonObject,
    Text,
    json_object,
    text,
)
from modelbay.errors import InvalidInputError

FINE = [
    "",
    "plain",
    "emoji 🎉🚀",
    "family \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "日本語のテキスト",
    "한국어",
    "e\u0301 (a combining acute accent)",
    "tab\tnew\nline",
    "\u00ff\u0100 \uffff \U0010ffff",
    "right-to-left \u202e",
]
BAD = ["\ud800", "x\udfff", "low then high \udc00\ud800", "\x00", "a\x00b"]


Short = text(5)
Strict = json_object(max_bytes=100, max_depth=3, allow_nonfinite=False)


class Model(BaseModel):
    text: Text | None = None
    short: Short | None = None
    number: Int64 | None = None
    obj: JsonObject | None = None
    strict_obj: Strict | None = None


@pytest.mark.parametrize("value", FINE)
def test_text_keeps_any_valid_unicode(value: str) -> None:
    assert Model(text=value).text == value
    assert Model(obj={value: [value, {"k": value}]}).obj == {value: [value, {"k": value}]}


@pytest.mark.parametrize("value", BAD)
def test_text_refuses_lone_surrogates_and_nul(value: str) -> None:
    with pytest.raises(ValidationError):
        Model(text=value)
    with pytest.raises(ValidationError):
        Model(obj={"k": value})
    with pytest.raises(ValidationError):
        Model(obj={value: 1})
    with pytest.raises(ValidationError):
        Model(obj={"deep": [{"list": ["ok", value]}]})


def test_text_from_json_escapes() -> None:
    """What arrives on the wire: a surrogate or NUL as an escape in the JSON text."""
    with pytest.raises(ValidationError):
        Model.model_validate(json.loads('{"text": "x\\ud800"}'))
    with pytest.raises(ValidationError):
        Model.model_validate(json.loads('{"text": "x\\u0000"}'))
    # A correctly paired escape is one character beyond the BMP.
    assert Model.model_validate(json.loads('{"text": "\\ud83c\\udf89"}')).text == "🎉"


def test_text_with_a_length_bound() -> None:
    assert Model(short="日本語🎉x").short == "日本語🎉x"
    with pytest.raises(ValidationError):
        Model(short="abcdef")
    with pytest.raises(ValidationError):
        Model(short="a\x00")


def test_int64_bounds() -> None:
    assert Model(number=INT64_MAX).number == INT64_MAX
    assert Model(number=INT64_MIN).number == INT64_MIN
    for bad in (INT64_MAX + 1, INT64_MIN - 1, 2**100):
        with pytest.raises(ValidationError):
            Model(number=bad)


def test_json_object_integers_fit_64_bits() -> None:
    assert Model(obj={"a": [INT64_MAX, INT64_MIN]}).obj == {"a": [INT64_MAX, INT64_MIN]}
    with pytest.raises(ValidationError):
        Model(obj={"a": [INT64_MAX + 1]})


def test_json_object_depth() -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for _ in range(depth - 1):
            value = {"a": value}
        return value

    assert Model(obj=nested(MAX_JSON_DEPTH)).obj is not None
    with pytest.raises(ValidationError, match="nested deeper"):
        Model(obj=nested(MAX_JSON_DEPTH + 1))
    # Deeper than the interpreter's stack: refused, not a RecursionError.
    with pytest.raises(ValidationError, match="nested deeper"):
        Model(obj=nested(100_000))
    lists: Any = []
    for _ in range(MAX_JSON_DEPTH):
        lists = [lists]
    with pytest.raises(ValidationError, match="nested deeper"):
        Model(obj={"a": lists})


def test_json_object_size() -> None:
    room = MAX_JSON_BYTES - len('{"blob":""}')
    assert Model(obj={"blob": "x" * room}).obj is not None
    with pytest.raises(ValidationError, match="larger than"):
        Model(obj={"blob": "x" * (room + 1)})
    # Bytes, not characters: three bytes each in UTF-8.
    with pytest.raises(ValidationError, match="larger than"):
        Model(obj={"blob": "日" * (room // 3 + 1)})


def test_json_object_values() -> None:
    value = {"n": None, "b": True, "i": 1, "f": 1.5, "s": "x", "l": [], "o": {}}
    assert Model(obj=value).obj == value
    with pytest.raises(ValidationError):
        Model(obj={"a": b"bytes"})
    with pytest.raises(ValidationError):
        Model(obj={"a": {1, 2}})


def test_non_finite_floats_where_metrics_need_them() -> None:
    obj = Model(obj={"loss": math.nan, "best": math.inf, "worst": -math.inf}).obj
    assert obj is not None and math.isnan(obj["loss"]) and obj["best"] == math.inf
    with pytest.raises(ValidationError, match="NaN"):
        Model(strict_obj={"loss": math.nan})
    with pytest.raises(ValidationError, match="larger than"):
        Model(strict_obj={"a": "x" * 100})
    with pytest.raises(ValidationError, match="nested"):
        Model(strict_obj={"a": {"b": {"c": {}}}})


# -- jsontext ------------------------------------------------------------------------------


def test_dumps_and_loads_round_trip_non_finite_numbers() -> None:
    data = {"a": [math.nan, math.inf, -math.inf, 1.5, 2], "s": "日本語 🎉"}
    body = jsontext.dumps(data, nonfinite=True)
    assert b"NaN" in body and b"-Infinity" in body
    back = jsontext.loads(body)
    assert math.isnan(back["a"][0]) and back["a"][1:] == [math.inf, -math.inf, 1.5, 2]
    assert back["s"] == "日本語 🎉"
    assert jsontext.dumps({"a": math.nan}) == b'{"a":null}'  # JSON has no NaN


def test_dumps_what_orjson_refuses() -> None:
    assert json.loads(jsontext.dumps({"big": 2**70})) == {"big": 2**70}
    assert json.loads(jsontext.dumps({"s": "\ud800"})) == {"s": "\ud800"}


def test_loads_refuses_what_is_not_json() -> None:
    for body in (b"{not json", b"\xff\xfe", b"", b"[1,", b"nan"):
        with pytest.raises(InvalidInputError, match="malformed"):
            jsontext.loads(body)


def test_loads_never_raises_recursion_error() -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000, b'{"a":' * 100_000):
        with pytest.raises(InvalidInputError):
            jsontext.loads(body)
        with pytest.raises(InvalidInputError):
            jsontext.loads(body, max_depth=None)
    # NaN makes orjson fail first; the standard library then meets the depth.
    with pytest.raises(InvalidInputError):
        jsontext.loads(b"[NaN," + b"[" * 100_000 + b"]" * 100_000 + b"]")


def test_loads_depth_bound() -> None:
    body = b"[" * 10 + b"]" * 10
    assert jsontext.loads(body, max_depth=10) is not None
    with pytest.raises(InvalidInputError, match="deeper than 9"):
        jsontext.loads(body, max_depth=9)
    assert jsontext.loads(b"1", max_depth=0) == 1
    assert jsontext.too_deep({"a": [{"b": 1}]}, 2)
    assert not jsontext.too_deep({"a": [{"b": 1}]}, 3)


def test_loads_reads_what_orjson_refuses() -> None:
    # orjson reads an integer beyond 64 bits as a float, which a JSON object field keeps:
    # loads reads it as an int, for the field types to refuse.
    for body, value in (
        (b'{"a": 18446744073709551617}', 18446744073709551617),
        (b'{"a": [-9223372036854775809]}', [-9223372036854775809]),
        ('{"a": 100000000000000000000}', 10**20),
    ):
        back = jsontext.loads(body)
        assert back == {"a": value} and type(back["a"]) is type(value)
    # Digits in a string, in a float or an exponent are no such integer.
    assert jsontext.loads(b'{"a": "123456789012345678901", "b": 12345678901234567890.5}') == {
        "a": "123456789012345678901",
        "b": 12345678901234567890.5,
    }
    assert jsontext.loads(b'{"a": 18446744073709551617, "b": NaN}')["a"] == 18446744073709551617
    assert jsontext.loads('"\\ud800"') == "\ud800"  # refused later, by the field types
