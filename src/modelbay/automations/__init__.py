"""Automations: what happens after an event's transaction commits.

The outbox rows (``deliveries``) are written with their event (``services/outbox.py``);
here they are sent. :mod:`.dispatcher` claims due deliveries and sends each with
:mod:`.webhook` (Standard Webhooks signing, retry schedule, private destinations refused)
or as a Slack message (:mod:`.slack`); :mod:`.payload` builds the event's data once, and
:mod:`.template` renders a W&B-style payload template from it.
"""
