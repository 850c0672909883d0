"""Helpers of the browser tests (Playwright's sync API, imported only when a test uses it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def sync_api() -> Any:
    """``playwright.sync_api``, or the calling test is skipped."""
    return pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def expect(locator: Any) -> Any:
    return sync_api().expect(locator)


def shot(tab: Any, folder: Path, name: str) -> None:
    """A full-page screenshot, once the page has stopped loading."""
    tab.wait_for_load_state("networkidle")
    tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)
