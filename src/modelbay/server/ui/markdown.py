"""Markdown for model cards and descriptions, rendered inert.

CommonMark (plus tables and strikethrough) through markdown-it-py with raw HTML turned off, so
``<script>`` and every other tag in the source comes out as text. Links and images keep only
``http:``, ``https:`` and ``mailto:`` URLs and relative ones; ``javascript:``, ``data:``,
``vbscript:`` and any other scheme are dropped, and links get ``rel="nofollow noopener"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def safe_url(url: str) -> bool:
    """Whether a link target may be rendered: a relative URL, a fragment, or a safe scheme.

    Browsers ignore control characters and whitespace inside a scheme (``java\\tscript:``),
    so those are removed before looking, after undoing percent-encoding (markdown-it hands
    over the URL encoded).
    """
    compact = _INVISIBLE.sub("", unquote(url))
    match = _SCHEME.match(compact)
    return match is None or match.group(1).lower() in SAFE_SCHEMES


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_url  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
        return str(renderer.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    return md


_MD = _build()


def render_markdown(text: str | None) -> Markup:
    """HTML for ``text``, safe to put into a page as is."""
    if not text:
        return Markup("")
    return Markup(_MD.render(text))
