"""W&B's MongoDB-style filters compiled to SQL, and keyset pages ordered by any field.

A filter is a dict such as ``{"name": {"$regex": "^yolo"}, "tag": "prod",
"metadata.acc": {"$gt": 0.9}}``. Each searchable kind (runs, registries, collections,
registry versions) declares its fields in a :class:`Fields`; :func:`compile_filter` turns a
filter into one WHERE clause that SQLite and PostgreSQL evaluate alike, so nothing is
filtered in Python and a page is never short.

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $regex $contains $exists`` on a field (with
``$options: "i"`` beside ``$regex`` for case-insensitive matching), and
``$and $or $nor $not``. A bare value means ``$eq``. A set-valued field (tags, aliases) matches
when one of its members does (MongoDB's array semantics): ``{"tag": {"$ne": "x"}}`` is "no
tag is x". JSON fields (``config.*``, ``summary_metrics.*``, ``metadata.*``) compare by the
operand's type: a number matches only numbers, a string only strings. Negations (``$ne``,
``$nin``, ``$not``, ``$nor``) match rows where the field is missing, as MongoDB does. A time
field takes epoch seconds, an ISO 8601 string (UTC unless it says otherwise) or a datetime.
Anything else is an :class:`~modelbay.errors.InvalidFilterError` naming where it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from modelbay.errors import InvalidFilterError, InvalidInputError

Kind = Literal["text", "number", "time", "bool"]
Clause = sa.ColumnElement[bool]

#: The most conditions (operators and nested clauses) one filter may hold.
MAX_TERMS = 200
#: The longest regular expression a filter may give.
MAX_PATTERN = 512
#: The most values one ``$in`` or ``$nin`` may list.
MAX_VALUES = 1000

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
FIELD_OPERATORS = (*COMPARISONS, "$regex", "$contains", "$exists", "$not")
LOGICAL = ("$and", "$or", "$nor", "$not")


@dataclass(frozen=True)
class Column:
    """A field held in one column (or expression) of the searched rows."""

    expr: sa.ColumnElement[Any]
    kind: Kind = "text"


@dataclass(frozen=True)
class Members:
    """A set of strings (tags, aliases) held elsewhere: ``exists(cond)`` is whether one of
    the row's members, as ``member``, meets ``cond``."""

    member: sa.ColumnElement[Any]
    exists: Callable[[Clause], Clause]


@dataclass(frozen=True)
class Json:
    """A JSON column whose keys are fields: ``<prefix>.a.b`` is the value at ``a.b``.

    With ``strip_value``, a trailing ``.value`` is optional (W&B writes config filters as
    ``config.lr.value``, its config storing ``{"lr": {"value": ...}}``; modelbay stores the
    value itself): both the path with and without it are tried.

    With ``contained`` (PostgreSQL only, for a column with a GIN index over
    ``column::jsonb``), an equality (``$eq``, ``$in``, a bare value) also tests containment
    (``column::jsonb @> {"a": {"b": value}}``), which that index answers; the typed
    comparison stays beside it, so the result is the same with or without the index.
    """

    column: sa.ColumnElement[Any]
    strip_value: bool = False
    contained: bool = False


@dataclass(frozen=True)
class Fields:
    """The searchable fields of one kind of row; ``aside`` names fields W&B has that this
    kind does not keep, with the reason, so that the error can say so."""

    columns: dict[str, Column | Members]
    json: dict[str, Json] = field(default_factory=dict)
    aside: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted([*self.columns, *(f"{p}.<key>" for p in self.json)])


def compile_filter(spec: object, fields: Fields, dialect: str) -> Clause:
    """The WHERE clause of ``spec`` (None or ``{}``: every row).

    Raises:
        InvalidFilterError: an unknown field or operator, or a value an operator cannot take.
    """
    if spec is None:
        return sa.true()
    return _Compiler(fields, dialect).clause(spec, "filter")


def order_by(fields: Fields, order: str, dialect: str) -> tuple[sa.ColumnElement[Any], bool]:
    """The expression and direction of W&B's ``order`` (``"+created_at"``,
    ``"-summary_metrics.acc"``): a JSON field orders by its numbers; rows without one come
    last.

    Raises:
        InvalidFilterError: an unknown or set-valued field.
    """
    text = order.strip()
    descending = text.startswith("-")
    name = text.lstrip("+-").strip()
    target = _Compiler(fields, dialect).resolve(name, "order")
    if isinstance(target, Members):
        raise InvalidFilterError(f"cannot order by {name!r}: it holds a set", {"at": "order"})
    if isinstance(target, Column):
        return target.expr, descending
    json_field, path = target
    extract = _JsonPath(json_field.column, path, dialect)
    return extract.number(), descending


# -- keyset pages -------------------------------------------------------------------------------


def page_after(
    sort: sa.ColumnElement[Any], tiebreak: sa.ColumnElement[Any], descending: bool, token: str
) -> Clause:
    """Rows after the one a page token names, in the order (``sort`` nulls last, then
    ``tiebreak``), so that a page costs an index range, not an offset.

    Raises:
        InvalidInputError: a malformed token.
    """
    value, last = decode_token(token)
    if _never_null(sort) and value is not None:
        numeric = isinstance(sort.type, (sa.Integer, sa.Float))
        if numeric == isinstance(value, str):  # a token of another order
            raise InvalidInputError(f"invalid page token {token[:40]!r} for this order")
        # A row value, so that SQLite and PostgreSQL seek the (sort, tiebreak) index.
        after = sa.tuple_(sa.literal(value, sort.type), sa.literal(last, tiebreak.type))
        key = sa.tuple_(sort, tiebreak)
        return key < after if descending else key > after
    beyond = sort < value if descending else sort > value
    past = tiebreak < last if descending else tiebreak > last
    if value is None:
        return sa.and_(sort.is_(None), past)
    return sa.or_(beyond, sa.and_(sort == value, past), sort.is_(None))


def ordered(
    stmt: sa.Select[Any],
    sort: sa.ColumnElement[Any],
    tiebreak: sa.ColumnElement[Any],
    descending: bool,
) -> sa.Select[Any]:
    if _never_null(sort):  # no NULLS LAST: SQLite's index gives the order only without it
        direction = sa.desc if descending else sa.asc
        return stmt.order_by(direction(sort), direction(tiebreak))
    if descending:
        return stmt.order_by(sort.desc().nulls_last(), tiebreak.desc())
    return stmt.order_by(sort.asc().nulls_last(), tiebreak.asc())


def _never_null(expr: sa.ColumnElement[Any]) -> bool:
    return isinstance(expr, sa.Column) and not expr.nullable


def encode_token(value: Any, last: int) -> str:
    raw = json.dumps([value, last], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value, last = json.loads(raw)
    except (ValueError, TypeError):
        raise InvalidInputError(f"invalid page token {token[:40]!r}") from None
    if type(last) is not int or not (value is None or type(value) in (int, float, str)):
        raise InvalidInputError(f"invalid page token {token[:40]!r}")
    return value, last


# -- the compiler -------------------------------------------------------------------------------


def _refuse(message: str, at: str) -> InvalidFilterError:
    return InvalidFilterError(f"{message} (at {at})", {"at": at})


def _not(clause: Clause) -> Clause:
    """NOT that also holds where ``clause`` is NULL (a missing field)."""
    return sa.not_(sa.func.coalesce(clause, sa.false()))


class _Compiler:
    def __init__(self, fields: Fields, dialect: str) -> None:
        self.fields = fields
        self.dialect = dialect
        self.terms = 0

    def _count(self, at: str) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _refuse(f"a filter holds at most {MAX_TERMS} conditions", at)

    def clause(self, spec: object, at: str) -> Clause:
        if not isinstance(spec, dict):
            raise _refuse(f"a filter is an object, not {type(spec).__name__}", at)
        parts: list[Clause] = []
        for key, value in spec.items():
            self._count(at)
            if not isinstance(key, str):
                raise _refuse("filter keys are strings", at)
            if key.startswith("$"):
                parts.append(self.logical(key, value, f"{at}.{key}"))
            else:
                parts.append(self.field(key, value, f"{at}.{key}"))
        return sa.and_(sa.true(), *parts)

    def logical(self, op: str, value: object, at: str) -> Clause:
        if op == "$not":
            return _not(self.clause(value, at))
        if op not in LOGICAL:
            raise _refuse(f"unknown operator {op!r}: use one of {', '.join(LOGICAL)}", at)
        if not isinstance(value, list) or not value:
            raise _refuse(f"{op} takes a non-empty list of filters", at)
        subs = [self.clause(v, f"{at}[{i}]") for i, v in enumerate(value)]
        if op == "$and":
            return sa.and_(*subs)
        either = sa.or_(*subs)
        return either if op == "$or" else _not(either)

    def resolve(self, name: str, at: str) -> Column | Members | tuple[Json, list[str]]:
        found = self.fields.columns.get(name)
        if found is not None:
            return found
        prefix, dot, rest = name.partition(".")
        json_field = self.fields.json.get(prefix)
        if json_field is not None and dot and rest:
            path = rest.split(".")
            if any(not part for part in path):
                raise _refuse(f"empty key in {name!r}", at)
            return json_field, path
        if name in self.fields.aside:
            raise _refuse(f"cannot filter on {name!r}: {self.fields.aside[name]}", at)
        raise _refuse(f"unknown field {name!r}: use one of {', '.join(self.fields.names())}", at)

    def field(self, name: str, value: object, at: str) -> Clause:
        target = self.resolve(name, at)
        if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
            ops: dict[str, Any] = value
        elif isinstance(value, dict) and any(str(k).startswith("$") for k in value):
            raise _refuse("operators and plain keys cannot be mixed", at)
        else:
            ops = {"$eq": value}
        if "$options" in ops and "$regex" in ops:  # MongoDB's flags of its $regex
            ops = dict(ops)
            ops["$regex"] = _regex_options(ops["$regex"], ops.pop("$options"), at)
        parts = []
        for op, arg in ops.items():
            self._count(at)
            if op == "$not":
                if isinstance(arg, str):  # {"$not": "regex"}: MongoDB's short form
                    arg = {"$regex": arg}
                parts.append(_not(self.field(name, arg, f"{at}.$not")))
                continue
            if op not in FIELD_OPERATORS:
                raise _refuse(
                    f"unknown operator {op!r}: use one of {', '.join(FIELD_OPERATORS)}", at
                )
            if isinstance(target, Members):
                parts.append(self.members(target, op, arg, f"{at}.{op}"))
            elif isinstance(target, Column):
                parts.append(self.column(target, op, arg, f"{at}.{op}"))
            else:
                parts.append(self.json(target[0], target[1], op, arg, f"{at}.{op}"))
        return sa.and_(sa.true(), *parts)

    # -- one operator on one kind of field ----------------------------------------------------

    def column(self, col: Column, op: str, arg: Any, at: str) -> Clause:
        expr = col.expr
        if op == "$exists":
            return expr.is_not(None) if _flag(arg, at) else expr.is_(None)
        if op in ("$regex", "$contains"):
            if col.kind != "text":
                raise _refuse(f"{op} applies to text fields", at)
            return self.text_match(expr, op, arg, at)
        if op in ("$in", "$nin"):
            values = _list(arg, at)
            present = [_operand(col.kind, v, at) for v in values if v is not None]
            found = sa.or_(sa.false(), expr.in_(present) if present else sa.false())
            if None in values:
                found = sa.or_(found, expr.is_(None))
            return found if op == "$in" else _not(found)
        if arg is None and op in ("$eq", "$ne"):
            return expr.is_(None) if op == "$eq" else expr.is_not(None)
        value = _operand(col.kind, arg, at)
        if op == "$ne":
            return sa.or_(expr != value, expr.is_(None))
        return _compare(expr, op, value)

    def members(self, target: Members, op: str, arg: Any, at: str) -> Clause:
        member = Column(target.member, "text")
        if op == "$exists":
            any_member = target.exists(sa.true())
            return any_member if _flag(arg, at) else _not(any_member)
        if op in ("$eq", "$ne") and arg is None:
            none = _not(target.exists(sa.true()))
            return none if op == "$eq" else _not(none)
        if op == "$ne":
            return _not(target.exists(self.column(member, "$eq", arg, at)))
        if op == "$nin":
            return _not(target.exists(self.column(member, "$in", arg, at)))
        return target.exists(self.column(member, op, arg, at))

    def json(self, json_field: Json, path: list[str], op: str, arg: Any, at: str) -> Clause:
        paths = [path]
        if json_field.strip_value and len(path) > 1 and path[-1] == "value":
            paths.append(path[:-1])
        found = [
            self._indexed(json_field, p, op, arg)
            & self.json_path(_JsonPath(json_field.column, p, self.dialect), op, arg, at)
            for p in paths
        ]
        return found[0] if len(found) == 1 else sa.or_(*found)

    def _indexed(self, json_field: Json, path: list[str], op: str, arg: Any) -> Clause:
        """The containment test an equality implies, where a GIN index can answer it (else
        TRUE). Only equalities: a GIN index over jsonb knows values, not their order, so a
        range (``$gt``...), ``$regex``, ``$contains``, ``$exists`` and the negations stay a
        reading of the rows the other conditions leave."""
        if not (json_field.contained and self.dialect == "postgresql"):
            return sa.true()
        values = arg if op == "$in" and isinstance(arg, list) else [arg] if op == "$eq" else []
        if not values or not all(_containable(v) for v in values):
            return sa.true()
        document = sa.cast(json_field.column, JSONB)
        tests = []
        for value in values:
            nested: Any = value
            for key in reversed(path):
                nested = {key: nested}
            tests.append(
                document.op("@>", is_comparison=True)(
                    sa.cast(sa.literal(json.dumps(nested)), JSONB)
                )
            )
        return sa.or_(*tests)

    def json_path(self, value: _JsonPath, op: str, arg: Any, at: str) -> Clause:
        if op == "$exists":
            present = value.type_of().is_not(None)
            return present if _flag(arg, at) else _not(present)
        if op in ("$regex", "$contains"):
            return self.text_match(value.text(), op, arg, at)
        if op in ("$in", "$nin"):
            found = sa.or_(
                sa.false(), *(self.json_path(value, "$eq", v, at) for v in _list(arg, at))
            )
            return found if op == "$in" else _not(found)
        if op == "$ne":
            return _not(self.json_path(value, "$eq", arg, at))
        if arg is None:
            if op != "$eq":
                raise _refuse(f"{op} cannot compare with null", at)
            return value.null_or_missing()
        if isinstance(arg, bool):
            if op != "$eq":
                raise _refuse(f"{op} cannot compare with a boolean", at)
            return value.boolean(arg)
        if isinstance(arg, (int, float)):
            return _compare(value.number(), op, _operand("number", arg, at))
        if isinstance(arg, str):
            return _compare(value.text(), op, arg)
        raise _refuse(f"{op} takes a number, string, boolean or null here", at)

    def text_match(self, expr: sa.ColumnElement[Any], op: str, arg: Any, at: str) -> Clause:
        if not isinstance(arg, str) or len(arg) > MAX_PATTERN:
            raise _refuse(f"{op} takes a string of at most {MAX_PATTERN} characters", at)
        if op == "$contains":
            finder = sa.func.strpos if self.dialect == "postgresql" else sa.func.instr
            return finder(expr, arg) > 0
        if "(?P" in arg:
            raise _refuse("named groups (?P...) are Python's alone: write (...)", at)
        import regex  # SQLite's REGEXP runs this engine (modelbay.store.bounded)

        try:
            re.compile(arg)
            regex.compile(arg)
        except (re.error, regex.error) as exc:
            raise _refuse(f"invalid regular expression {arg[:40]!r}: {exc}", at) from None
        return expr.regexp_match(arg)


def _containable(value: object) -> bool:
    """A scalar whose jsonb containment means the same as the typed equality (a finite
    number, a string or a boolean; not null, which also matches a missing key)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int))


def _regex_options(pattern: object, options: object, at: str) -> object:
    """``pattern`` with MongoDB's ``$options`` as inline flags: ``i`` (case-insensitive),
    the one flag SQLite's (Python's) and PostgreSQL's regular expressions mean alike."""
    if not isinstance(options, str) or set(options) - {"i"}:
        raise _refuse(f"$options takes 'i' (case-insensitive), not {options!r:.20}", at)
    return f"(?i){pattern}" if options and isinstance(pattern, str) else pattern


def json_text(
    column: sa.ColumnElement[Any], path: list[str], dialect: str
) -> sa.ColumnElement[Any]:
    """The string at ``path`` of a JSON column (NULL when missing or not a string)."""
    return _JsonPath(column, path, dialect).text()


class _JsonPath:
    """The value at a path of a JSON column, typed (NULL where it has another type)."""

    def __init__(self, column: sa.ColumnElement[Any], path: list[str], dialect: str) -> None:
        self.column = column
        self.path = path
        self.pg = dialect == "postgresql"
        if not self.pg:
            if any('"' in key or "\\" in key for key in path):
                raise InvalidFilterError(f"a JSON key may not hold '\"' or '\\': {path!r}")
            self.sqlite_path = "$" + "".join(f'."{key}"' for key in path)

    def _pg_parent(self) -> sa.ColumnElement[Any]:
        element = self.column
        for key in self.path[:-1]:
            element = element.op("->")(sa.literal(key, sa.Text))
        return element

    def type_of(self) -> sa.ColumnElement[Any]:
        """PostgreSQL's json_typeof names, SQLite's json_type names; NULL when missing."""
        if self.pg:
            return sa.func.json_typeof(
                self._pg_parent().op("->")(sa.literal(self.path[-1], sa.Text))
            )
        return sa.func.json_type(self.column, self.sqlite_path)

    def _raw_text(self) -> sa.ColumnElement[Any]:
        return self._pg_parent().op("->>")(sa.literal(self.path[-1], sa.Text))

    def number(self) -> sa.ColumnElement[Any]:
        if self.pg:
            found = sa.case(
                (self.type_of() == "number", sa.cast(self._raw_text(), sa.Float)), else_=sa.null()
            )
        else:
            found = sa.case(
                (
                    self.type_of().in_(["integer", "real"]),
                    sa.func.json_extract(self.column, self.sqlite_path),
                ),
                else_=sa.null(),
            )
        return sa.type_coerce(found, sa.Float)

    def text(self) -> sa.ColumnElement[Any]:
        if self.pg:
            found = sa.case((self.type_of() == "string", self._raw_text()), else_=sa.null())
        else:
            found = sa.case(
                (self.type_of() == "text", sa.func.json_extract(self.column, self.sqlite_path)),
                else_=sa.null(),
            )
        return sa.type_coerce(found, sa.Text)

    def boolean(self, value: bool) -> Clause:
        if self.pg:
            return sa.and_(self.type_of() == "boolean", self._raw_text() == str(value).lower())
        return self.type_of() == str(value).lower()

    def null_or_missing(self) -> Clause:
        kind = self.type_of()
        return sa.or_(kind.is_(None), kind == "null")


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "$eq": operator.eq,
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _compare(expr: sa.ColumnElement[Any], op: str, value: Any) -> Clause:
    return cast(Clause, _COMPARE[op](expr, value))


def _flag(arg: object, at: str) -> bool:
    if not isinstance(arg, bool):
        raise _refuse("$exists takes true or false", at)
    return arg


def _list(arg: object, at: str) -> list[Any]:
    if not isinstance(arg, list) or len(arg) > MAX_VALUES:
        raise _refuse(f"takes a list of at most {MAX_VALUES} values", at)
    return arg


def _operand(kind: Kind, value: Any, at: str) -> Any:
    """``value`` as the column of ``kind`` holds it."""
    if kind == "time":
        return as_epoch(value, at)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(f"expected a number, not {value!r:.40}", at)
        if isinstance(value, float) and not math.isfinite(value):
            raise _refuse("NaN and the infinities cannot be compared", at)
        return value
    if kind == "bool":
        return _flag(value, at)
    if not isinstance(value, str):
        raise _refuse(f"expected a string, not {value!r:.40}", at)
    return value


def as_epoch(value: Any, at: str = "filter") -> float:
    """Epoch seconds of a number, an ISO 8601 string or a datetime (naive means UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise _refuse(f"not an ISO 8601 time: {value[:40]!r}", at) from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return float(value.timestamp())
    raise _refuse(f"expected a time, not {value!r:.40}", at)
