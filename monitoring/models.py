"""Source-data verification: a monitor marks a field, or a whole form, of any clinical record as verified
against the source. The verified values are kept with the mark; a later change to a verified field clears
the verification (with the change named), whoever made it and however (docs/data-management.md)."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from records.base import audited


@pghistory.track(*audited())
class SourceVerification(models.Model):
    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="verifications")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="verifications")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="verifications")
    kind = models.CharField(max_length=40, help_text="The record kind (records.registry slug).")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    field = models.CharField(max_length=60, blank=True, help_text="The field verified; empty for the whole form.")
    # The values verified, field name -> value as text: what a later change is compared with.
    values = models.JSONField(default=dict)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-verified_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id"]), models.Index(fields=["trial", "site"])]
        constraints = [
            # One standing mark per field of a record, and one per form: a record read by several forms
            # (a screening's consent, its values, its judgements) is verified form by form.
            models.UniqueConstraint(fields=["content_type", "object_id", "field"],
                                    condition=models.Q(cleared_at__isnull=True) & ~models.Q(field=""),
                                    name="sdv_one_standing_per_field"),
            models.UniqueConstraint(fields=["content_type", "object_id", "kind"],
                                    condition=models.Q(cleared_at__isnull=True, field=""),
                                    name="sdv_one_standing_per_form"),
        ]

    def __str__(self) -> str:
        return f"SDV {self.kind} {self.object_id} {self.field or '(form)'}"

    @property
    def standing(self) -> bool:
        return self.cleared_at is None
