"""Names, paths and references: what is allowed, checked once at every edge.

References name a version of something:

* ``project/name:alias`` or ``project/name:v3`` for an artifact version (an optional leading
  ``entity/`` is accepted and ignored, as W&B scripts carry one);
* ``model-registry/MNIST:production`` for a registry version; W&B's
  ``wandb-registry-model/MNIST:production`` and MLflow's ``models:/MNIST@production`` and
  ``models:/MNIST/3`` mean the same.

A missing selector means ``latest``.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelbay.errors import (
    InvalidInputError,
    InvalidNameError,
    InvalidPathError,
    InvalidReferenceError,
)

NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
#: A collection (registered model) name: W&B lets these hold single inner spaces
#: ("MNIST Grayscale 28x28", "My Registered Model").
COLLECTION_RE = re.compile(r"^(?=.{1,128}$)[A-Za-z0-9._-]+( [A-Za-z0-9._-]+)*$")
#: A label a person writes (a run name, a job type, a group, an entity): W&B takes any text.
MAX_LABEL_CHARS = 128
#: The core registries, whatever case W&B's scripts write them in (wandb-registry-Model).
CORE_REGISTRIES = ("model", "dataset")
VERSION_RE = re.compile(r"^v(\d{1,9})$")
TAG_RE = re.compile(r"^[-\w]+( [-\w]+)*$")
REGISTRY_SUFFIX = "-registry"
WANDB_REGISTRY_PREFIX = "wandb-registry-"
LATEST = "latest"
MAX_METADATA_KEYS = 100
MAX_METADATA_BYTES = 1 << 20
MAX_DESCRIPTION_CHARS = 1 << 20
MAX_PATH_CHARS = 1024
MAX_TAG_CHARS = 256
#: The most tags one run, version or collection holds: every listing returns them all.
MAX_TAGS = 1000


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid name (``[A-Za-z0-9._-]``, 1-128 characters).

    Raises:
        InvalidNameError: otherwise, including names made only of dots.
    """
    if not isinstance(value, str) or not NAME_RE.match(value) or set(value) == {"."}:
        raise InvalidNameError(
            f"invalid {what} {value!r}: use 1-128 characters of A-Z a-z 0-9 . _ -",
            {"field": what, "value": _preview(value)},
        )
    return value


def check_project(value: object) -> str:
    """A project name: a name, not starting with ``wandb-registry-`` (how W&B writes a
    registry). It may end in ``-registry``, as W&B allows; a reference ``X-registry/name``
    still means registry X, so such a project's versions are named from within it (a bare
    ``name:alias``) or by path.

    Raises:
        InvalidNameError: otherwise.
    """
    name = check_name(value, "project")
    if name.startswith(WANDB_REGISTRY_PREFIX):
        raise InvalidNameError(
            f"project names starting with '{WANDB_REGISTRY_PREFIX}' name registries: {name!r}",
            {"field": "project", "value": name},
        )
    return name


def check_collection(value: object) -> str:
    """A collection name: a name, or words of one separated by single spaces (W&B's
    ``'My Registered Model'``), 1-128 characters.

    Raises:
        InvalidNameError: otherwise.
    """
    if not isinstance(value, str) or not COLLECTION_RE.match(value) or set(value) == {"."}:
        raise InvalidNameError(
            f"invalid collection {_preview(value)!r}: use 1-128 characters of A-Z a-z 0-9 . _ - "
            "and single spaces between words",
            {"field": "collection", "value": _preview(value)},
        )
    return value


def check_label(value: object, what: str) -> str:
    """A label a person writes, as W&B takes it (a run name, job type, group or entity):
    1-128 printable characters, not only spaces.

    Raises:
        InvalidNameError: otherwise.
    """
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_LABEL_CHARS
        or not value.isprintable()
        or _has_surrogate(value)
    ):
        raise InvalidNameError(
            f"invalid {what} {_preview(value)!r}: use 1-{MAX_LABEL_CHARS} printable characters",
            {"field": what, "value": _preview(value)},
        )
    return value


def registry_name(value: str) -> str:
    """A registry's name as stored: W&B's capitalised core names (``Model``) in lower case."""
    return value.lower() if value.lower() in CORE_REGISTRIES else value


def check_alias(value: object, *, by_hand: bool = True) -> str:
    """Return a valid alias; ``latest`` and ``vN`` are reserved when set by hand.

    Raises:
        InvalidNameError: a malformed alias, or a reserved one set by hand.
    """
    alias = check_name(value, "alias")
    if by_hand and alias == LATEST:
        raise InvalidNameError(
            f"alias {LATEST!r} is reserved: it follows the newest version, and is not set or "
            "removed by hand",
            {"field": "alias", "value": alias},
        )
    if by_hand and VERSION_RE.match(alias):
        raise InvalidNameError(
            f"alias {alias!r} is reserved: 'vN' names version N",
            {"field": "alias", "value": alias},
        )
    return alias


def check_tag(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TAG_CHARS or not TAG_RE.match(value):
        raise InvalidNameError(
            f"invalid tag {_preview(value)!r}: use words of letters, digits, '-' and '_' "
            "separated by single spaces",
            {"field": "tag", "value": _preview(value)},
        )
    return value


def check_tags(values: object) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, list | tuple | set | frozenset):
        raise InvalidInputError("tags must be a list of strings", {"field": "tags"})
    tags = sorted({check_tag(v) for v in values})
    if len(tags) > MAX_TAGS:
        raise InvalidInputError(f"at most {MAX_TAGS} tags", {"field": "tags"})
    return tags


def check_aliases(values: object) -> list[str]:
    """The aliases to put on a version being logged or linked, sorted, without ``latest``.

    ``latest`` is accepted, as W&B accepts it (scripts pass ``aliases=["latest", ...]``),
    and left to its rule: it follows the newest version.

    Raises:
        InvalidInputError: not a list of strings.
        InvalidNameError: a malformed alias, or ``vN``.
    """
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, list | tuple | set | frozenset):
        raise InvalidInputError("aliases must be a list of strings", {"field": "aliases"})
    return sorted({check_alias(v) for v in values if v != LATEST})


def check_alias_edit(values: object, held: Sequence[str]) -> bool:
    """Check the aliases a version is to hold after an edit of its whole set
    (``Artifact.save``); ``held`` are the aliases the editor read. Adding ``latest`` by
    hand is refused, as ``modelbay alias add`` refuses it; removing it changes nothing,
    since it follows the newest version (W&B's documented scripts do remove it): returns
    whether the edit does that.

    Raises:
        InvalidInputError: not a list of strings.
        InvalidNameError: a malformed alias, ``vN``, or ``latest`` added by hand.
    """
    check_aliases(values)
    listed = isinstance(values, list | tuple | set | frozenset) and LATEST in values
    if listed and LATEST not in held:
        check_alias(LATEST)  # raises: the one rule the CLI applies too
    return listed != (LATEST in held)


def check_path(value: object) -> str:
    """Return a normalised relative POSIX path for a file inside an artifact.

    Raises:
        InvalidPathError: empty, absolute, with ``..``, ``.`` or empty segments, backslashes,
            NUL or other control characters, a lone surrogate, a drive letter, or longer
            than 1024 characters.
    """
    if not isinstance(value, str) or not value:
        raise InvalidPathError("a file path must be a non-empty string", {"path": _preview(value)})
    problem = None
    if len(value) > MAX_PATH_CHARS:
        problem = f"longer than {MAX_PATH_CHARS} characters"
    elif any(ord(c) < 32 or ord(c) == 127 for c in value):
        problem = "contains a control character"
    elif "\\" in value:
        problem = "contains a backslash"
    elif not value.isascii() and _has_surrogate(value):
        problem = "holds a lone surrogate (not valid unicode)"
    elif value.startswith("/"):
        problem = "is absolute"
    elif re.match(r"^[A-Za-z]:", value):
        problem = "starts with a drive letter"
    else:
        parts = value.split("/")
        if any(p == ".." for p in parts):
            problem = "climbs out with '..'"
        elif any(p in ("", ".") for p in parts):
            problem = "has an empty or '.' segment"
    if problem:
        raise InvalidPathError(
            f"file path {_preview(value)!r} {problem}", {"path": _preview(value)}
        )
    return value


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_no_file_is_a_folder(paths: Sequence[str]) -> None:
    """Refuse artifact paths where one is a folder of another (``m`` and ``m/inner``): no
    download could place both. The first such path in ``paths`` is the one named. One set
    lookup per folder level of each path: 100k paths cost well under a second.

    Raises:
        InvalidPathError: a path is both a file and a folder; details name both.
    """
    known = set(paths)
    for path in paths:
        cut = path.find("/")
        while cut != -1:
            if path[:cut] in known:
                raise InvalidPathError(
                    f"file path {path[:cut]!r} is a file, but {path!r} makes it a folder too",
                    {"path": path, "file": path[:cut]},
                )
            cut = path.find("/", cut + 1)


def check_description(value: object, field: str = "description") -> str | None:
    """A description, model card or run's notes (``field`` names which in the error)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string", {"field": field})
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise InvalidInputError(
            f"{field} is longer than {MAX_DESCRIPTION_CHARS} characters", {"field": field}
        )
    return value


def check_metadata(value: object) -> dict[str, Any]:
    """Return metadata as a JSON-safe dict: at most 100 keys, 1 MiB, no NaN or infinity."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError("metadata must be a JSON object", {"field": "metadata"})
    if len(value) > MAX_METADATA_KEYS:
        raise InvalidInputError(
            f"metadata has {len(value)} keys; at most {MAX_METADATA_KEYS} are allowed",
            {"field": "metadata"},
        )
    _reject_non_finite(value)
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"metadata is not JSON-serialisable: {exc}", {"field": "metadata"}
        ) from exc
    if len(encoded) > MAX_METADATA_BYTES:
        raise InvalidInputError("metadata is larger than 1 MiB", {"field": "metadata"})
    return dict(json.loads(encoded))


def _reject_non_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError("metadata may not hold NaN or infinity", {"field": "metadata"})
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError("metadata keys must be strings", {"field": "metadata"})
            _reject_non_finite(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _reject_non_finite(v)


def version_index(selector: str) -> int | None:
    """``"v12"`` -> 12; anything else (an alias) -> None."""
    m = VERSION_RE.match(selector)
    return int(m.group(1)) if m else None


_ADJECTIVES = [
    "bright",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "lively",
    "misty",
    "noble",
    "proud",
    "quiet",
    "rapid",
    "silver",
    "swift",
    "vivid",
]
_NOUNS = [
    "river",
    "forest",
    "meadow",
    "comet",
    "galaxy",
    "harbor",
    "island",
    "lantern",
    "mountain",
    "ocean",
    "planet",
    "sunrise",
    "thunder",
    "valley",
]


def new_run_id() -> str:
    """A new run id: 8 random characters of ``[a-z0-9]``."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def new_run_name(run_id: str) -> str:
    """A readable default name, e.g. ``swift-river-3kq9``."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{run_id[:4]}"


def registry_ref(registry: str, collection: str, selector: str | None = None) -> str:
    """How a registry collection is named, ``model-registry/MNIST``; with ``selector`` one of
    its versions, ``model-registry/MNIST:v3`` or ``model-registry/MNIST:production``."""
    ref = f"{registry}{REGISTRY_SUFFIX}/{collection}"
    return ref if selector is None else f"{ref}:{selector}"


@dataclass(frozen=True)
class ArtifactRef:
    project: str
    name: str
    selector: str = LATEST

    def __str__(self) -> str:
        return f"{self.project}/{self.name}:{self.selector}"


@dataclass(frozen=True)
class RegistryRef:
    registry: str
    collection: str
    selector: str = LATEST

    def __str__(self) -> str:
        return registry_ref(self.registry, self.collection, self.selector)


Ref = ArtifactRef | RegistryRef


def parse_ref(text: object, default_project: str | None = None) -> Ref:
    """Parse any accepted reference form.

    Raises:
        InvalidReferenceError: the text is not a reference, or names nothing valid.
    """
    if not isinstance(text, str) or not text or len(text) > 1024:
        raise InvalidReferenceError(f"invalid reference {_preview(text)!r}")
    try:
        if text.startswith("models:/"):
            return _parse_mlflow(text[len("models:/") :])
        path, selector = _split_selector(text)
        parts = path.split("/")
        if len(parts) > 3 or any(not p for p in parts):
            raise InvalidReferenceError(f"invalid reference {text!r}")
        if len(parts) >= 2:
            holder = parts[-2]
            registry = _registry_of(holder)
            if registry is not None:
                return RegistryRef(
                    check_name(registry_name(registry), "registry"),
                    check_collection(parts[-1]),
                    selector,
                )
            return ArtifactRef(check_project(holder), check_name(parts[-1], "artifact"), selector)
        if default_project is None:
            raise InvalidReferenceError(
                f"reference {text!r} names no project: write 'project/{text}'"
            )
        return ArtifactRef(
            check_project(default_project), check_name(parts[0], "artifact"), selector
        )
    except InvalidNameError as exc:
        raise InvalidReferenceError(
            f"invalid reference {text!r}: {exc.message}", exc.details
        ) from exc


def _registry_of(holder: str) -> str | None:
    if holder.startswith(WANDB_REGISTRY_PREFIX):
        return holder[len(WANDB_REGISTRY_PREFIX) :]
    if holder.endswith(REGISTRY_SUFFIX):
        return holder[: -len(REGISTRY_SUFFIX)]
    return None


def _split_selector(text: str) -> tuple[str, str]:
    if ":" not in text:
        return text, LATEST
    path, _, selector = text.rpartition(":")
    check_name(selector, "alias or version")
    return path, selector


def _parse_mlflow(rest: str) -> RegistryRef:
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return RegistryRef("model", check_collection(name), check_name(alias, "alias"))
    name, _, version = rest.partition("/")
    if not version:
        return RegistryRef("model", check_collection(name), LATEST)
    if version.isdigit():
        return RegistryRef("model", check_collection(name), f"v{int(version)}")
    return RegistryRef("model", check_collection(name), check_name(version, "alias"))


def _preview(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_target(target_path: str) -> tuple[str, str]:
    """``model-registry/MNIST`` (or W&B's ``wandb-registry-model/MNIST``) -> (registry, collection).

    Raises:
        InvalidReferenceError: not a registry collection path.
    """
    ref = parse_ref(
        target_path if target_path.startswith("models:/") else target_path.split(":")[0]
    )
    if not isinstance(ref, RegistryRef):
        raise InvalidReferenceError(
            f"{target_path!r} is not a registry collection: write '<registry>-registry/<collection>'"
        )
    return ref.registry, ref.collection
