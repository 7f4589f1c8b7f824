"""A save of any registered record kind's model clears the verifications its change made stale: one
receiver for every kind (records.registry.KINDS), whichever path saved the row (a correction, a service,
the API, the admin). Raw SQL bypasses it: monitoring.selectors compares the values when a page reads."""

from __future__ import annotations

from django.db.models.signals import post_save


def _cleared_on_save(sender, instance, created, raw=False, **kwargs):
    if created or raw:
        return
    from monitoring.services import clear_changed

    clear_changed(instance)


def connect() -> None:
    from records.registry import KINDS

    for model in {kind.model._meta.concrete_model for kind in KINDS.values()}:
        post_save.connect(_cleared_on_save, sender=model, dispatch_uid=f"sdv-clear-{model._meta.label_lower}")
