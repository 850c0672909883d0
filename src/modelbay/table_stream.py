"""A W&B table file read a row at a time: ``{"columns": [...], "data": [[...], ...], ...}``.

``json.load`` holds the file's text and every parsed row at once; a reader that wants the
rows one by one (to turn them into cells, or to write them elsewhere) needs neither. This
reads the bytes in chunks, decodes each value of the top-level object with the standard
library's scanner (so NaN and the infinities read as Python writes them), and yields the
rows of ``data`` as they are decoded; the other keys are kept in :attr:`TableStream.header`.
Memory stays the size of the largest row (or other value) plus one chunk.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from modelbay.errors import InvalidInputError

CHUNK = 1 << 16
_SPACE = re.compile(r"[ \t\n\r]*")
#: The standard library's scanner: ``(value, end)`` of the JSON value at an index of a text
#: (what ``json.loads`` uses, NaN and the infinities included).
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class TableStream:
    """The rows of a table file's ``data`` list, one at a time (:meth:`rows`), and its
    other keys (:attr:`header`: those before ``data`` as soon as the first row is read, all
    of them once :meth:`rows` is exhausted).

    Raises (while iterating):
        InvalidInputError: the bytes are not a JSON object, or ``data`` is not a list.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self.header: dict[str, Any] = {}
        self.has_data = False

    @classmethod
    def of_file(cls, path: Path, chunk: int = CHUNK) -> TableStream:
        """A stream of the file at ``path``, read ``chunk`` bytes at a time."""

        def read() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while block := f.read(chunk):
                    yield block

        return cls(read())

    # -- the buffer ---------------------------------------------------------------------------

    def _fill(self, at_least: int = 0) -> bool:
        """Drop what was read and append text of at least ``at_least`` more characters (or
        one chunk); False at the end of the input."""
        parts = [self._buf[self._pos :]]
        got = 0
        while not self._eof and (got == 0 or got < at_least):
            block = next(self._chunks, None)
            text = self._utf8.decode(block or b"", final=block is None)
            self._eof = block is None
            parts.append(text)
            got += len(text)
        self._buf, self._pos = "".join(parts), 0
        return got > 0

    def _peek(self) -> str:
        """The next character that is not white space (not consumed), "" at the end."""
        while True:
            self._pos = _SPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _expect(self, chars: str) -> str:
        found = self._buf[self._pos : self._pos + 1]  # most often right here
        if not found or found not in chars:
            found = self._peek()
        if not found or found not in chars:
            raise self._error(f"expected {' or '.join(repr(c) for c in chars)}")
        self._pos += 1
        return found

    def _value(self) -> Any:
        """The next JSON value; the buffer grows (doubling) until it holds it whole."""
        if self._buf[self._pos : self._pos + 1] in ("", " ", "\t", "\n", "\r"):
            self._peek()
        while True:
            try:
                value, end = _SCAN(self._buf, self._pos)
            except (StopIteration, json.JSONDecodeError):
                if self._fill(len(self._buf) - self._pos):
                    continue
                raise self._error("not JSON") from None
            # a number (or a name) at the very end of the text may continue in the next chunk
            if end == len(self._buf) and not self._eof and self._fill(len(self._buf) - self._pos):
                continue
            self._pos = end
            return value

    def _error(self, what: str) -> InvalidInputError:
        near = self._buf[self._pos : self._pos + 40]
        return InvalidInputError(f"the table file is not a W&B table: {what} near {near!r}")

    # -- the document -------------------------------------------------------------------------

    def rows(self) -> Iterator[Any]:
        """Each element of ``data`` in order (a row is a list, as W&B writes it)."""
        self._expect("{")
        if self._peek() == "}":
            self._pos += 1
            return
        while True:
            key = self._value()
            if not isinstance(key, str):
                raise self._error("a key that is not a string")
            self._expect(":")
            if key == "data":
                self.has_data = True
                yield from self._data()
            else:
                self.header[key] = self._value()
            if self._expect(",}") == "}":
                return

    def _data(self) -> Iterator[Any]:
        self._expect("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            if self._expect(",]") == "]":
                return


__all__ = ["TableStream"]
