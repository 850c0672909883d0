"""Automations over an embedded data directory: events written by the SDK (embedded), the
automations made through the services, and deliveries sent by ``run_once`` to a real HTTP
receiver on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.automations import FAST, Env
from support.receiver import Receiver

import modelbay
from modelbay.sdk.transport import reset_transports
from modelbay.services import Services
from modelbay.settings import Settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name in list(os.environ):
        if name.startswith("MODELBAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELBAY_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MODELBAY_USER", "tester")
    monkeypatch.chdir(tmp_path)
    reset_transports()
    modelbay.run = None
    settings = Settings.from_env().with_(
        allow_private_destinations=True, delivery_retry_schedule=FAST
    )
    services = Services.open(settings)
    try:
        yield Env(tmp_path, settings, services, services.auth.local_principal("tester"))
    finally:
        services.close()
        reset_transports()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
