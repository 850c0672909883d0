"""W&B's ``wandb.Settings`` and ``wandb.setup`` as ``init(settings=...)`` takes them
(issue #17): the settings that apply, those accepted and ignored, and ``setup``'s
defaults reaching ``init`` and child processes through the environment."""

from __future__ import annotations

import os
from typing import Any

import pytest
from support.processes import ServerProcess

import modelbay
from modelbay.sdk import wandb_settings


@pytest.fixture(autouse=True)
def _forget_setup() -> Any:
    yield
    wandb_settings.teardown()


def test_settings_fill_what_init_is_not_given(mb: Any, uniq: str) -> None:
    settings = modelbay.Settings(project=f"p{uniq}", run_group="g", run_tags="t", console="off")
    assert settings.ignored == ["console"] and settings.console == "off"
    with modelbay.init(settings=settings, job_type="train") as run:
        assert (run.project, run.group, run.job_type) == (f"p{uniq}", "g", "train")
        assert list(run.tags) == ["t"]
    with modelbay.init(project=f"q{uniq}", settings={"project": f"p{uniq}"}) as other:
        assert other.project == f"q{uniq}"  # an init argument wins over a setting
    disabled = modelbay.init(settings=modelbay.Settings(mode="disabled"))
    assert disabled.disabled
    disabled.finish()


def test_setup_gives_defaults_to_later_inits_and_the_environment(mb: Any, uniq: str) -> None:
    modelbay.setup(modelbay.Settings(project=f"s{uniq}", silent=True))
    assert os.environ["MODELBAY_PROJECT"] == f"s{uniq}"
    assert os.environ["MODELBAY_SILENT"] == "true"
    with modelbay.init() as run:
        assert run.project == f"s{uniq}"
    wandb_settings.teardown()
    assert "MODELBAY_PROJECT" not in os.environ


def test_base_url_and_api_key_choose_the_server(
    mb: Any, uniq: str, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mb.kind != "embedded":
        pytest.skip("starts embedded and is sent to the server by its settings")
    cloud = modelbay.Settings(base_url="https://api.wandb.ai", api_key="wandb-key")
    with modelbay.init(project=f"c{uniq}", settings=cloud) as local:
        assert local._transport is not None and local._transport.url is None
    remote = modelbay.Settings(base_url=server.url, api_key=server.admin_key)
    with modelbay.init(project=f"r{uniq}", settings=remote) as run:
        run.log({"acc": 0.5})
    monkeypatch.setenv("MODELBAY_URL", server.url)
    monkeypatch.setenv("MODELBAY_API_KEY", server.admin_key)
    assert modelbay.Api().run(f"r{uniq}/{run.id}").summary["acc"] == 0.5
