"""What the automation tests share: an embedded data directory with its services, and
the dispatcher run by hand (fixtures in tests/automations/conftest.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import modelbay
from modelbay.automations.dispatcher import run_once
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
