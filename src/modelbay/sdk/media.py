"""``Table``, ``Image`` and ``Histogram``: rich values with W&B's API and stored formats.

Each type serialises to the JSON W&B writes, so that a reader of either understands it:

- a table is ``<name>.table.json``, ``{"_type": "table", "columns", "data", "ncols",
  "nrows", "column_types", "log_mode"}``, written a row at a time to a file (never built
  as one string);
- an image is a PNG (or the file given) stored as ``media/images/<sha256[:20]>.<ext>``
  beside the table, and a cell (or a history value) is ``{"_type": "image-file", "path",
  "sha256", "size", "format", "width", "height", "caption"}``;
- a histogram is ``{"_type": "histogram", "values": [...], "bins": [...]}`` (inline).

Files go into an artifact version, whose bytes are content-addressed: an image that
several versions (or tables) hold is stored once. numpy, Pillow and pandas are optional:
each is imported when a value needs it, and a missing one is a one-line error naming the
``pip install`` (all three: ``pip install 'modelbay[media]'``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from modelbay.errors import InvalidInputError, MissingExtraError

#: The most rows a table holds (W&B's limit for tables in artifacts).
MAX_ARTIFACT_ROWS = 200_000
MAX_BINS = 512
DEFAULT_BINS = 64
IMAGE_DIR = "media/images"
#: How a history reference names the artifact file it points to (W&B writes
#: ``wandb-artifact://``): ``modelbay-artifact://project/name:vN/path``.
ARTIFACT_SCHEME = "modelbay-artifact://"
#: The suffix of each type's file in an artifact, as W&B names them (``preds.table.json``).
LOG_TYPES = (
    "table",
    "image-file",
    "histogram",
    "images-separated",
    "partitioned-table",
    "joined-table",
)


def _need(module: str, for_what: str) -> Any:
    """Import an optional library, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        package = {"PIL.Image": "pillow"}.get(module, module)
        raise MissingExtraError(
            f"{for_what} needs {package}: pip install {package} (or 'modelbay[media]')",
            {"extra": "media", "module": module},
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Media:
    """A value that serialises to W&B's ``{"_type": ...}`` JSON, with files of its own."""

    _log_type = ""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


class Image(Media):
    """An image: a numpy array (H x W, H x W x 3 or 4; floats in [0, 1] are scaled), a
    PIL image, or the path of an image file (stored as it is).

    Args:
        data_or_path: the pixels or the file.
        mode: a PIL mode for an array (default: inferred).
        caption: shown under the image.
        file_type: "png" (the default) or "jpg" for pixels.

    Raises:
        InvalidInputError: not an image, or a path that is not a file.
        MissingExtraError: Pillow (or numpy, for an array) is not installed.
    """

    _log_type = "image-file"

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        *,
        file_type: str | None = None,
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self._source: Path | None = None
        self._bytes: bytes | None = None
        self._pil: Any = None
        if isinstance(data_or_path, str | os.PathLike):
            path = Path(data_or_path)
            if not path.is_file():
                raise InvalidInputError(f"{data_or_path} is not an image file")
            self._source = path.absolute()
            self.format = (file_type or path.suffix.lstrip(".") or "png").lower()
            self.width, self.height = _image_size(self._source)
            data = self._source.read_bytes()
        else:
            pil = _to_pil(data_or_path, mode)
            self.width, self.height = pil.size
            self.format = (file_type or "png").lower()
            buffer = io.BytesIO()
            pil.save(
                buffer, format="JPEG" if self.format in ("jpg", "jpeg") else self.format.upper()
            )
            data = buffer.getvalue()
            self._bytes = data
        self.sha256 = _sha256(data)
        self.size = len(data)

    @property
    def path(self) -> str:
        """Where the image goes in an artifact: ``media/images/<sha256[:20]>.<format>``."""
        return f"{IMAGE_DIR}/{self.sha256[:20]}.{self.format}"

    def local_file(self, scratch: Path) -> Path:
        """A file holding the image's bytes (the source itself, or one written in ``scratch``)."""
        if self._source is not None:
            return self._source
        target = scratch / self.path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            assert self._bytes is not None
            target.write_bytes(self._bytes)
        return target

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_type": self._log_type,
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
            "width": self.width,
            "height": self.height,
        }
        if self.caption is not None:
            out["caption"] = self.caption
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any], root: Path) -> Image:
        """The image of an ``image-file`` cell whose file is under ``root``."""
        image = cls.__new__(cls)
        image.caption = obj.get("caption")
        image._source = root / str(obj["path"])
        image._bytes = None
        image._pil = None
        image.format = str(obj.get("format") or "png")
        image.width = int(obj.get("width") or 0)
        image.height = int(obj.get("height") or 0)
        image.sha256 = str(obj.get("sha256") or obj.get("digest") or "")
        image.size = int(obj.get("size") or 0)
        if not image.sha256 and image._source.is_file():  # a cell of images/separated
            data = image._source.read_bytes()
            image.sha256, image.size = _sha256(data), len(data)
        return image

    @property
    def local_path(self) -> str | None:
        """The file the image was read from (or downloaded to), if any."""
        return str(self._source) if self._source is not None else None

    def image(self) -> Any:
        """The image as a PIL image."""
        pil = _need("PIL.Image", "Image.image()")
        if self._source is not None:
            return pil.open(self._source)
        assert self._bytes is not None
        return pil.open(io.BytesIO(self._bytes))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"<Image {self.width}x{self.height} {self.format} {self.sha256[:12]}>"


def _to_pil(data: Any, mode: str | None) -> Any:
    if type(data).__module__.startswith("PIL."):
        return data
    np = _need("numpy", "Image from an array")
    pil = _need("PIL.Image", "Image from an array")
    try:
        array = np.asarray(data)
    except Exception as exc:
        raise InvalidInputError(
            f"Image takes an array, a PIL image or a path; not {type(data).__name__}"
        ) from exc
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels first (torch) to channels last
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise InvalidInputError(f"an image array is H x W, H x W x 3 or 4; not {array.shape}")
    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=float)
        if array.size and float(np.nanmax(array)) <= 1.0:
            array = array * 255
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    return pil.fromarray(array, mode=mode)


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height of an image file: read from a PNG header, else by Pillow."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    pil = _need("PIL.Image", "Image from a file that is not a PNG")
    try:
        with pil.open(path) as img:
            size: tuple[int, int] = img.size
            return size
    except Exception as exc:
        raise InvalidInputError(f"{path} is not an image Pillow can read: {exc}") from exc


class Histogram(Media):
    """A histogram: of a sequence (``num_bins`` equal bins, at most 512), or given as
    ``np_histogram=(counts, bin_edges)``.

    Raises:
        InvalidInputError: neither given, a bad bin count, or edges that are not one more
            than the counts.
    """

    _log_type = "histogram"

    def __init__(
        self,
        sequence: Sequence[Any] | None = None,
        np_histogram: tuple[Sequence[Any], Sequence[Any]] | None = None,
        num_bins: int = DEFAULT_BINS,
    ) -> None:
        if not isinstance(num_bins, int) or not 1 <= num_bins <= MAX_BINS:
            raise InvalidInputError(f"num_bins must be from 1 to {MAX_BINS}")
        if np_histogram is not None:
            counts, edges = np_histogram
            self.histogram = [_plain(c) for c in counts]
            self.bins = [float(_plain(b)) for b in edges]
        elif sequence is not None:
            self.histogram, self.bins = _histogram(sequence, num_bins)
        else:
            raise InvalidInputError("Histogram takes a sequence or np_histogram=(counts, edges)")
        if len(self.bins) != len(self.histogram) + 1:
            raise InvalidInputError("a histogram has one more bin edge than counts")
        if len(self.histogram) > MAX_BINS:
            raise InvalidInputError(f"a histogram has at most {MAX_BINS} bins")

    def to_json(self) -> dict[str, Any]:
        return {"_type": self._log_type, "values": self.histogram, "bins": self.bins}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Histogram:
        return cls(np_histogram=(obj["values"], obj["bins"]))

    def __repr__(self) -> str:
        return f"<Histogram {len(self.histogram)} bins>"


def _histogram(sequence: Sequence[Any], num_bins: int) -> tuple[list[Any], list[float]]:
    """``numpy.histogram`` when numpy is there (W&B's bins exactly), else the same in Python."""
    try:
        import numpy as np
    except ImportError:
        values = [float(v) for v in sequence if not math.isnan(float(v))]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        width = (hi - lo) / num_bins
        edges = [lo + i * width for i in range(num_bins)] + [hi]
        counts = [0] * num_bins
        for v in values:
            counts[min(int((v - lo) / width), num_bins - 1)] += 1
        return counts, edges
    np_counts, np_edges = np.histogram(np.asarray(sequence, dtype=float), bins=num_bins)
    return [int(c) for c in np_counts], [float(e) for e in np_edges]


def _plain(value: Any) -> Any:
    """A JSON value for a cell: numpy scalars and arrays become Python numbers and lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy scalars and arrays, torch tensors
        return tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class Table(Media):
    """Rows of cells: numbers, strings, bools, None, lists, dicts and :class:`Image` s.

    Args:
        columns: the column names (default W&B's ``["Input", "Output", "Expected"]``).
        data: rows (lists), a 2-D numpy array or a pandas DataFrame.
        rows: the same as ``data`` (W&B's older name).
        dataframe: a pandas DataFrame (``columns`` and ``data`` are then ignored).

    Raises:
        InvalidInputError: a row whose length is not the number of columns, or a cell of a
            type no table holds.
    """

    _log_type = "table"

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        data: Any = None,
        rows: Any = None,
        dataframe: Any = None,
    ) -> None:
        if dataframe is None and data is not None and hasattr(data, "to_dict"):
            dataframe = data
        if dataframe is not None:
            self.columns: list[str] = [str(c) for c in dataframe.columns]
            self.data: list[list[Any]] = []
            for row in dataframe.itertuples(index=False, name=None):
                self.add_data(*row)
            return
        data = rows if data is None else data
        if columns is None:
            width = len(data[0]) if data is not None and len(data) else 3
            columns = (
                ["Input", "Output", "Expected"] if width == 3 else [f"c{i}" for i in range(width)]
            )
        self.columns = [str(c) for c in columns]
        if len(set(self.columns)) != len(self.columns):
            raise InvalidInputError("table column names must be unique")
        self.data = []
        for row in data if data is not None else ():
            self.add_data(*row)

    def add_data(self, *values: Any) -> None:
        """Append a row."""
        if len(values) != len(self.columns):
            raise InvalidInputError(
                f"a row has {len(self.columns)} cells (one per column); got {len(values)}"
            )
        self.data.append([_cell(v) for v in values])

    def add_column(self, name: str, data: Sequence[Any], optional: bool = False) -> None:
        """Append a column; ``data`` holds one cell per row (``optional`` is W&B's type
        hint, accepted and not enforced)."""
        name = str(name)
        if name in self.columns:
            raise InvalidInputError(f"the table has a column {name!r} already")
        cells = list(data)
        if self.data and len(cells) != len(self.data):
            raise InvalidInputError(f"the column needs {len(self.data)} cells; got {len(cells)}")
        if not self.data:
            self.data = [[] for _ in cells]
        self.columns.append(name)
        for row, cell in zip(self.data, cells, strict=True):
            row.append(_cell(cell))

    def get_column(self, name: str, convert_to: str | None = None) -> Any:
        """The cells of a column, as a list (or a numpy array with ``convert_to="numpy"``).

        Raises:
            InvalidInputError: no such column.
        """
        try:
            index = self.columns.index(name)
        except ValueError:
            raise InvalidInputError(f"the table has no column {name!r}") from None
        cells = [row[index] for row in self.data]
        if convert_to == "numpy":
            return _need("numpy", "get_column(convert_to='numpy')").array(cells)
        return cells

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame (images stay :class:`Image` objects)."""
        pandas = _need("pandas", "Table.get_dataframe()")
        return pandas.DataFrame(self.data, columns=self.columns)

    def iterrows(self) -> Iterator[tuple[int, list[Any]]]:
        """``(index, row)`` of every row, as W&B's ``Table.iterrows``."""
        yield from enumerate(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Table) and (other.columns, other.data) == (self.columns, self.data)

    def __repr__(self) -> str:
        return f"<Table {len(self.data)} rows x {len(self.columns)} columns>"

    def images(self) -> Iterator[Image]:
        """Every image in the table's cells (once per distinct image)."""
        seen: set[str] = set()
        for row in self.data:
            for cell in row:
                if isinstance(cell, Image) and cell.sha256 not in seen:
                    seen.add(cell.sha256)
                    yield cell

    def write(self, target: Path) -> tuple[str, int]:
        """Write the table's JSON to ``target``, a row at a time; returns (sha256, size).

        Raises:
            InvalidInputError: more than :data:`MAX_ARTIFACT_ROWS` rows.
        """
        if len(self.data) > MAX_ARTIFACT_ROWS:
            raise InvalidInputError(f"a table holds at most {MAX_ARTIFACT_ROWS} rows")
        digest = hashlib.sha256()
        size = 0
        with open(target, "wb") as f:
            for chunk in self._json_chunks():
                data = chunk.encode()
                digest.update(data)
                size += len(data)
                f.write(data)
        return digest.hexdigest(), size

    def _json_chunks(self) -> Iterator[str]:
        dumps = json.JSONEncoder(allow_nan=True, separators=(", ", ": ")).encode
        yield '{"_type": "table", "columns": ' + dumps(self.columns) + ', "data": ['
        first = True
        for row in self.data:
            cells = [c.to_json() if isinstance(c, Media) else c for c in row]
            yield ("" if first else ", ") + dumps(cells)
            first = False
        head = {
            "ncols": len(self.columns),
            "nrows": len(self.data),
            "column_types": self.column_types(),
            "log_mode": "IMMUTABLE",
        }
        yield "], " + dumps(head)[1:]

    def column_types(self) -> dict[str, Any]:
        """W&B's ``column_types``: each column a union of ``none`` and the types it holds."""
        type_map = {}
        for index, name in enumerate(self.columns):
            found: dict[str, dict[str, Any]] = {"none": {"wb_type": "none"}}
            seen: set[type] = set()
            for row in self.data:
                cell = row[index]
                kind = type(cell)
                if kind in seen:
                    continue  # one type of cell has one wb_type, except a list
                if kind is not list:
                    seen.add(kind)
                t = _wb_type(cell)
                found.setdefault(json.dumps(t, sort_keys=True), t)
            type_map[name] = {
                "wb_type": "union",
                "params": {"allowed_types": list(found.values())},
            }
        return {"wb_type": "typedDict", "params": {"type_map": type_map}}

    def to_json(self) -> dict[str, Any]:
        return json.loads("".join(self._json_chunks()))  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, obj: dict[str, Any], root: Path) -> Table:
        """The table of a ``.table.json`` object whose images are under ``root``."""
        table = cls(columns=obj["columns"])
        table.data = [[_from_cell(c, root) for c in row] for row in obj.get("data") or []]
        return table


class ImageGroup(Media):
    """Several images logged under one key (``run.log({"examples": [Image, ...]})``),
    W&B's ``{"_type": "images/separated", "width", "height", "format", "count",
    "filenames", "captions"}``."""

    _log_type = "images/separated"

    def __init__(self, images: Sequence[Image]) -> None:
        if not images or not all(isinstance(i, Image) for i in images):
            raise InvalidInputError("an image group is a non-empty list of Images")
        self.group = list(images)

    def images(self) -> Iterator[Image]:
        seen: set[str] = set()
        for image in self.group:
            if image.sha256 not in seen:
                seen.add(image.sha256)
                yield image

    def to_json(self) -> dict[str, Any]:
        first = self.group[0]
        out: dict[str, Any] = {
            "_type": self._log_type,
            "width": first.width,
            "height": first.height,
            "format": first.format,
            "count": len(self.group),
            "filenames": [i.path for i in self.group],
        }
        if any(i.caption is not None for i in self.group):
            out["captions"] = [i.caption or "" for i in self.group]
        return out


def _wb_type(cell: Any) -> dict[str, Any]:
    if cell is None:
        return {"wb_type": "none"}
    if isinstance(cell, bool):
        return {"wb_type": "boolean"}
    if isinstance(cell, int | float):
        return {"wb_type": "number"}
    if isinstance(cell, str):
        return {"wb_type": "string"}
    if isinstance(cell, Image):
        return {"wb_type": "image-file"}
    if isinstance(cell, Histogram):
        return {"wb_type": "histogram"}
    if isinstance(cell, list):
        element = _wb_type(cell[0]) if cell else {"wb_type": "unknown"}
        return {"wb_type": "list", "params": {"element_type": element, "length": len(cell)}}
    return {"wb_type": "pythonObject"}


_CELL_TYPES = (type(None), bool, int, float, str)


def _cell(value: Any) -> Any:
    if type(value) in _CELL_TYPES or isinstance(value, Image | Histogram):
        return value
    plain = _plain(value)
    if isinstance(plain, list | dict):
        json.dumps(plain, default=_refuse)
        return plain
    if type(plain) in _CELL_TYPES:
        return plain
    if type(value).__module__.startswith("PIL."):
        return Image(value)
    raise InvalidInputError(f"a table cell cannot hold a {type(value).__name__}")


def _refuse(value: Any) -> Any:
    raise InvalidInputError(f"a table cell cannot hold a {type(value).__name__}")


def _from_cell(cell: Any, root: Path) -> Any:
    if isinstance(cell, dict):
        kind = cell.get("_type")
        if kind == "image-file":
            return Image.from_json(cell, root)
        if kind == "histogram":
            return Histogram.from_json(cell)
    return cell


def media_key(key: str) -> str:
    """A history key as it appears in artifact names and file names (``[A-Za-z0-9._-]``):
    ``eval/preds`` -> ``eval_preds``."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", key)[:100] or "_"


Staged = tuple[str, Path, "tuple[str, int] | None"]


def stage(value: Media, name: str, scratch: Path) -> list[Staged]:
    """Write ``value``'s files under ``scratch``: ``(path in the artifact, file, (sha256,
    size) when this wrote the file from bytes it hashed, else None)``, the value's own JSON
    file (``<name>.<type>.json``) last.

    Raises:
        InvalidInputError: ``value`` is not a Table, Image or Histogram.
    """
    if not isinstance(value, Media):
        raise InvalidInputError(
            f"artifact.add takes a Table, Image or Histogram; not {type(value).__name__}"
        )
    suffix = f".{value._log_type.replace('/', '-')}.json"
    target_name = name if name.endswith(suffix) else name + suffix
    out: list[Staged] = []
    images: Iterable[Image] = (
        value.images()
        if isinstance(value, Table | ImageGroup)
        else ([value] if isinstance(value, Image) else [])
    )
    for image in images:
        written = image._source is None  # else the user's file, which may still change
        known = (image.sha256, image.size) if written else None
        out.append((image.path, image.local_file(scratch), known))
    target = scratch / "objects" / target_name
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, Table):
        digest: tuple[str, int] | None = value.write(target)
    else:
        target.write_text(json.dumps(value.to_json()))
        digest = None
    out.append((target_name, target, digest))
    return out


def load(path: Path, root: Path) -> Media:
    """The value a ``<name>.<type>.json`` file holds; its images are under ``root``.

    A table's file is read a row at a time (:class:`~modelbay.table_stream.TableStream`):
    each row becomes the Table's cells as it is decoded, so the file's text and its parsed
    JSON are never held whole beside the Table. An image cell whose file is not under
    ``root`` yet gets its digest from :func:`complete` once it is.

    Raises:
        InvalidInputError: the file is not one of W&B's media files.
    """
    from modelbay.table_stream import TableStream

    stream = TableStream.of_file(path)
    data: list[list[Any]] = []
    for row in stream.rows():
        if not isinstance(row, list):
            raise InvalidInputError(f"{path.name}: a table row is a list, not {row!r:.80}")
        data.append([_from_cell(c, root) for c in row])
    obj = stream.header
    kind = obj.get("_type")
    if kind == "table" or (kind is None and stream.has_data and "columns" in obj):
        table = Table(columns=obj.get("columns") or [])
        width = len(table.columns)
        if any(len(row) != width for row in data):
            raise InvalidInputError(f"{path.name}: a row has not one cell per column")
        table.data = data
        return table
    if kind == "image-file":
        return Image.from_json(obj, root)
    if kind == "histogram":
        return Histogram.from_json(obj)
    if kind == ImageGroup._log_type:
        captions = obj.get("captions") or [None] * len(obj["filenames"])
        return ImageGroup(
            [
                Image.from_json({**obj, "path": p, "caption": c}, root)
                for p, c in zip(obj["filenames"], captions, strict=True)
            ]
        )
    raise InvalidInputError(f"{path.name} holds no Table, Image or Histogram")


def _all_images(value: Media) -> Iterator[Image]:
    """Every Image ``value`` holds, repeats included (a digest may not be known yet)."""
    if isinstance(value, Image):
        yield value
    elif isinstance(value, ImageGroup):
        yield from value.group
    elif isinstance(value, Table):
        for row in value.data:
            for cell in row:
                if isinstance(cell, Image):
                    yield cell


def image_paths(value: Media, root: Path) -> list[str]:
    """The image files (paths in the artifact, read under ``root``) that ``value`` names."""
    found: set[str] = set()
    for image in _all_images(value):
        if image._source is not None:
            try:
                found.add(image._source.relative_to(root).as_posix())
            except ValueError:
                continue  # not a file of the artifact
    return sorted(found)


def complete(value: Media) -> None:
    """Give each image of ``value`` read without a digest (W&B's ``images/separated``) the
    digest and size of its file, now that it is there."""
    for image in _all_images(value):
        if not image.sha256 and image._source is not None and image._source.is_file():
            data = image._source.read_bytes()
            image.sha256, image.size = _sha256(data), len(data)


def object_name(name: str, files: Iterable[str]) -> str | None:
    """The file of ``name`` among an artifact's files: ``name`` itself, or ``name`` with
    one of W&B's suffixes (``preds`` -> ``preds.table.json``)."""
    present = set(files)
    for candidate in (name, *(f"{name}.{t}.json" for t in LOG_TYPES)):
        if candidate in present:
            return candidate
    return None


__all__ = ["Histogram", "Image", "Media", "Table"]
