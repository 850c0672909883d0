"""A run's summary as the run page shows it: numbers as numbers, and what W&B's media
references stand for rather than their JSON: a logged table is a link to its table viewer,
an image a thumbnail, a histogram a small bar chart, define_metric's aggregates their
values. Every string stays data for the template, which escapes it."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

#: Thumbnails drawn for an ``images/separated`` value (a list of images).
MAX_THUMBNAILS = 4
THUMBNAIL_PX = 64
#: Bars of a histogram's sketch; finer histograms are summed into this many.
SKETCH_BARS = 32
SKETCH_HEIGHT = 28


def _artifact(value: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """``(project, name, version, path)`` of ``modelbay-artifact://project/name:vN/path``."""
    text = value.get("artifact_path")
    if not isinstance(text, str) or "://" not in text:
        return None
    parts = text.partition("://")[2].split("/", 2)
    if len(parts) < 3 or ":" not in parts[1]:
        return None
    name, _, version = parts[1].partition(":")
    return parts[0], name, version, parts[2]


def _version_url(project: str, name: str, version: str) -> str:
    return f"/projects/{quote(project, safe='')}/artifacts/{quote(name, safe='')}/{quote(version, safe='')}"


def _image_url(project: str, name: str, version: str, path: str) -> str:
    return f"{_version_url(project, name, version)}/images/{quote(path)}"


def _size(width: Any, height: Any) -> tuple[int, int]:
    """A thumbnail's size: at most :data:`THUMBNAIL_PX` across, its aspect kept."""
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        scale = min(1.0, THUMBNAIL_PX / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))
    return THUMBNAIL_PX, THUMBNAIL_PX


def _sketch(values: list[Any]) -> list[dict[str, float]] | None:
    """A histogram's counts as at most :data:`SKETCH_BARS` bars ``{"x", "h"}`` (in px)."""
    counts = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not counts or len(counts) != len(values):
        return None
    per = math.ceil(len(counts) / SKETCH_BARS)
    bars = [sum(counts[i : i + per]) for i in range(0, len(counts), per)]
    top = max(bars) or 1.0
    return [{"x": i * 4.0, "h": round(SKETCH_HEIGHT * b / top, 1)} for i, b in enumerate(bars)]


def _media(value: dict[str, Any]) -> dict[str, Any]:
    kind = value.get("_type")
    where = _artifact(value)
    if kind == "table-file":
        rows, cols = value.get("nrows"), value.get("ncols")
        shape = f"{rows} × {cols}" if isinstance(rows, int) and isinstance(cols, int) else ""
        url = _version_url(*where[:3]) + "#tables" if where else None
        return {"kind": "table", "url": url, "text": f"Table {shape}".strip()}
    if kind == "image-file" and where:
        width, height = _size(value.get("width"), value.get("height"))
        images = [{"url": _image_url(*where), "width": width, "height": height}]
        caption = value.get("caption")
        return {"kind": "images", "images": images, "text": caption, "count": 1}
    if kind == "images/separated" and where:
        names = [f for f in value.get("filenames") or [] if isinstance(f, str)]
        width, height = _size(value.get("width"), value.get("height"))
        images = [
            {"url": _image_url(*where[:3], f), "width": width, "height": height}
            for f in names[:MAX_THUMBNAILS]
        ]
        count = value.get("count") if isinstance(value.get("count"), int) else len(names)
        return {"kind": "images", "images": images, "text": f"{count} images", "count": count}
    if kind == "histogram":
        bars = _sketch(value.get("values") or [])
        bins = value.get("bins") or []
        span = ""
        if len(bins) >= 2 and all(isinstance(b, int | float) for b in (bins[0], bins[-1])):
            span = f"{bins[0]:.4g} to {bins[-1]:.4g}"
        if bars is not None:
            return {"kind": "histogram", "bars": bars, "width": 4 * len(bars), "text": span}
    return {"kind": "label", "text": str(kind) if kind else "object"}


def summary_cell(value: Any) -> dict[str, Any]:
    """How one summary value is shown: ``{"kind": "value" | "aggregates" | "table" |
    "images" | "histogram" | "label", ...}``."""
    if isinstance(value, dict):
        if "_type" in value:
            return _media(value)
        if value and all(isinstance(v, int | float | str | bool) for v in value.values()):
            return {"kind": "aggregates", "pairs": sorted(value.items())}
        return {"kind": "label", "text": f"object of {len(value)} key{'' if len(value) == 1 else 's'}"}
    if isinstance(value, list):
        return {"kind": "label", "text": f"list of {len(value)}"}
    return {"kind": "value", "value": value}


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The summary's keys (W&B's own, ``_...``, left out), sorted, each with its cell."""
    return [(k, summary_cell(v)) for k, v in sorted(summary.items()) if not k.startswith("_")]
