"""Sizes in bytes as people write them: ``10GB``, ``1.5 GB``, ``500MiB``."""

from __future__ import annotations

import re
from decimal import Decimal

from modelbay.errors import InvalidInputError

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}
# ASCII only: str.isdigit-style matching would take "١٠GB" for 10 GB. Matched once the
# ends are stripped: two runs of spaces either side of an optional unit made the match try
# every split of the spaces between them, quadratic in their number.
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]*)", re.IGNORECASE | re.ASCII)
_SPACES = " \t\n\r\f\v"


def parse_size(text: str, *, name: str | None = None) -> int:
    """Parse a size such as ``10GB``, ``1.5 GB``, ``500MiB`` or ``1048576`` into bytes.

    ``KB``, ``MB``, ``GB``, ``TB`` and ``PB`` are powers of 1000; ``KiB`` ... ``PiB`` powers
    of 1024; a plain number is bytes. Units are case-insensitive; digits are ASCII. A size
    that is not a whole number of bytes (``0.4``, ``1.1KiB``) is refused rather than
    rounded: rounding ``0.4`` down would empty the cache, and up would keep one byte.

    Args:
        name: where ``text`` came from (``MODELBAY_CACHE_MAX_SIZE``, ``--max-size``), for
            the error message.

    Raises:
        InvalidInputError: ``text`` is not a non-negative whole number of bytes, written
            plainly or with one of those units.

    Examples:
        >>> parse_size("10GB"), parse_size("500MiB"), parse_size("42")
        (10000000000, 524288000, 42)
    """
    what = f"invalid size {str(text)[:40]!r}" + (f" in {name}" if name else "")
    match = _SIZE.fullmatch(text.strip(_SPACES)) if isinstance(text, str) else None
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise InvalidInputError(
            f"{what}: give bytes or a number with a unit such as 10GB, 1.5GB or 500MiB",
            {"value": str(text)[:80], **({"name": name} if name else {})},
        )
    size = Decimal(match.group(1)) * unit
    if size != size.to_integral_value():
        raise InvalidInputError(
            f"{what}: that is {size.normalize():f} bytes, not a whole number; give whole "
            "bytes or a larger unit",
            {"value": str(text)[:80], **({"name": name} if name else {})},
        )
    return int(size)


def format_size(size: int | None) -> str:
    """``size`` bytes in the decimal units :func:`parse_size` reads (``1.5 GB``); None (a
    size not known) is empty. The one way sizes are shown, in the CLI as in the web UI."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        # Compared once rounded as shown: 999,999 bytes is "1.0 MB", not "1000.0 KB".
        if round(value, 1) < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
