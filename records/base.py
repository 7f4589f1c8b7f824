"""What every clinical record shares: audit events that carry their own context and database user, and
voiding (an entry made in error is kept, marked void with a reason, never deleted).

Abstract models only, importable before the app registry is ready: ``PGHISTORY_BASE_MODEL`` points at
:class:`Event` (so named that event models keep their names), and pghistory builds every event model on it.
"""

from __future__ import annotations

import pghistory.models
from django.conf import settings
from django.db import models


class SessionUser(models.Func):
    """SQL ``SESSION_USER``: the PostgreSQL role that logged in (unchanged by ``SET ROLE``)."""

    template = "SESSION_USER"
    output_field = models.TextField()


class Event(pghistory.models.Event):
    """Base of every audit event table. The triggers fill the tracked columns and the context (JSON, in
    the row itself: append-only with the event); ``pgh_db_user`` is the database's own record of who
    connected, so a change made with raw SQL outside the application still names its author."""

    pgh_db_user = models.TextField(db_default=SessionUser(), editable=False)

    class Meta:
        abstract = True


class LiveManager(models.Manager):
    """The default manager of a voidable record: what counts (voided entries left out)."""

    def get_queryset(self):
        return super().get_queryset().filter(voided_at__isnull=True)


class Voidable(models.Model):
    """An entry that can be voided with a reason (21 CFR 11.10(e): changes do not obscure the original).

    ``objects`` (the default, also behind related managers such as ``subject.doses``) leaves voided
    entries out, so nothing derived from the data counts them; ``all_objects`` shows them, for the
    record's own pages where they appear struck through with the reason.
    """

    voided_at = models.DateTimeField(null=True, blank=True, editable=False)
    voided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+", editable=False)
    void_reason = models.TextField(blank=True, editable=False)

    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 - a manager, not a field

    class Meta:
        abstract = True

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


def audited():
    """The pghistory events every clinical record keeps: ``@pghistory.track(*audited())``. Fresh trackers per
    model: pghistory's tracker objects keep state and must not be shared."""
    import pghistory

    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
