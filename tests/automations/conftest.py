"""Automations over an embedded data directory: events written by the SDK (embedded), the
automations made through the services, and deliveries sent by ``run_once`` to a real HTTP
receiver on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.receiver import Receiver

import modelbay
from modelbay.automations.dispatcher import run_once
from modelbay.sdk.transport import reset_transports
from modelbay.services import Principal, Services
from modelbay.settings import Settings

#: Retries a fraction of a second apart, so that a test runs the whole schedule.
FAST = (0.0, 0.05, 0.05, 0.05)


@dataclass
class Env:
    dir: Path
    settings: Settings
    services: Services
    me: Principal

    def dispatch(self, settings: Settings | None = None) -> int:
        """Rounds of the dispatcher until nothing is due now; how many were sent."""
        sent = 0
        while True:
            n = run_once(self.services.db, settings or self.settings)
            if not n:
                return sent
            sent += n

    def link(self, collection: str = "MNIST", aliases: list[str] | None = None) -> None:
        """Log a new model version and link it into ``model-registry/<collection>``."""
        path = self.dir / f"w{os.urandom(4).hex()}.bin"
        path.write_bytes(os.urandom(16))
        run = modelbay.init(project="proj", config={"lr": 0.1})
        art = modelbay.Artifact("net", type="model", metadata={"accuracy": 0.93, "note": 'a "q"'})
        art.add_file(str(path))
        run.log_artifact(art)
        run.link_artifact(art, f"model-registry/{collection}", aliases=aliases)
        run.finish()


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
