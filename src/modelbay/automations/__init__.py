"""Automations: what happens after an event's transaction commits.

The outbox rows (``deliveries``) are written with their event (``services/outbox.py``);
here they are sent. :mod:`.dispatcher` claims due deliveries and sends each with
:mod:`.webhook` (Standard Webhooks signing, retry schedule, private destinations refused)
or as a Slack message (:mod:`.slack`); :mod:`.payload` builds the event's data once, and
:mod:`.template` renders a W&B-style payload template from it.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """W&B's ``wandb.automations`` names (``OnAddArtifactAlias``, ``SendWebhook``, ...), so
    that ``from modelbay.automations import ...`` replaces W&B's import line; loaded on first
    use, as the server's dispatcher needs none of them."""
    from modelbay.sdk import automations as wandb_names

    if name in wandb_names.__all__:
        return getattr(wandb_names, name)
    raise AttributeError(f"module 'modelbay.automations' has no attribute {name!r}")
