"""Planned visits with their windows (generated from the protocol's visit plan)."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models


# The watch's own bookkeeping (``due_soon_notified``) is not clinical data: it is left out of the audit events, and
# an UPDATE that changes only it writes none (the update trigger compares the tracked fields).
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 exclude=["due_soon_notified"])
class PlannedVisit(models.Model):
    class Kind(models.TextChoices):
        SCREENING = "screening", "Screening"
        DOSING = "dosing", "Dosing"
        IMAGING = "imaging", "Imaging"
        EOT = "eot", "End of treatment"
        SAFETY = "safety", "Safety follow-up"
        SURVIVAL = "survival", "Survival follow-up"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        DONE = "done", "Done"
        MISSED = "missed", "Missed"

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="visits")
    code = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.DateField()
    window_start = models.DateField()
    window_end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    done_on = models.DateField(null=True, blank=True)
    missed_reason = models.CharField(max_length=200, blank=True)
    overdue = models.BooleanField(default=False)
    overdue_since = models.DateTimeField(null=True, blank=True)
    # Set by the watch in the statement that creates the visit's due-soon notices (visits.watch): a visit enters
    # the due-soon range once, so a steady-state run reads only the visits that entered it since the last.
    due_soon_notified = models.BooleanField(default=False, editable=False)
    # A visit done outside its window is a protocol deviation: how many days early (< 0) or late (> 0).
    deviation = models.BooleanField(default=False)
    deviation_days = models.IntegerField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["subject", "target"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "code"], name="visit_unique_code_per_subject"),
            models.CheckConstraint(
                condition=models.Q(window_start__lte=models.F("target"), target__lte=models.F("window_end")),
                name="visit_target_inside_window",
            ),
            models.CheckConstraint(
                condition=models.Q(status="done", done_on__isnull=False)
                | (~models.Q(status="done") & models.Q(done_on__isnull=True)),
                name="visit_done_has_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="missed") | ~models.Q(missed_reason=""),
                name="visit_missed_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["window_end"], condition=models.Q(status="planned", overdue=False),
                         name="visit_watch_idx"),
            # The due-soon pass: planned visits not yet notified, by their window (both bounds, so that it
            # serves the pass better than visit_open_idx, which holds every planned visit).
            models.Index(fields=["window_start", "window_end"],
                         condition=models.Q(status="planned", overdue=False, due_soon_notified=False),
                         name="visit_due_soon_idx"),
            # The overdue visits (the list page, the counts, a new staff member's notices).
            models.Index(fields=["window_end"], condition=models.Q(status="planned", overdue=True),
                         name="visit_overdue_idx"),
            # The site list and the notifications read the open (planned) visits by window.
            models.Index(fields=["window_start", "window_end"], condition=models.Q(status="planned"),
                         name="visit_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.code}"

    @property
    def deviation_text(self) -> str:
        if not self.deviation or self.deviation_days is None:
            return ""
        n = abs(self.deviation_days)
        return f"{n} day{'s' if n != 1 else ''} {'late' if self.deviation_days > 0 else 'early'}"

    def state(self, today) -> str:
        """done, missed, overdue, open (window open now), due_soon / planned (window not yet open)."""
        if self.status != self.Status.PLANNED:
            return self.status
        if self.overdue or today > self.window_end:
            return "overdue"
        if self.window_start <= today:
            return "open"
        return "planned"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class FollowUp(models.Model):
    """A subject's anchors beyond the doses and outcome: end of treatment (last dose), new anti-tumour
    therapy, clinical progression, the end of follow-up with its reason (death: the date of death, with its
    cause), the last date known alive. Recorded once: the visit plan (each change regenerates it) and the
    efficacy endpoints (PFS, OS, DoR: ``response.selectors``) both read it."""

    class EndReason(models.TextChoices):
        DEATH = "death", "Death"
        LOST = "lost", "Lost to follow-up"
        WITHDRAWN = "withdrawn", "Withdrawal of consent"
        STUDY_END = "study_end", "End of study"

    subject = models.OneToOneField("subjects.Subject", on_delete=models.PROTECT, related_name="follow_up")
    last_dose = models.DateField(null=True, blank=True, verbose_name="last dose (end of treatment)")
    new_therapy = models.DateField(null=True, blank=True, verbose_name="new anti-tumour therapy started")
    follow_up_end = models.DateField(null=True, blank=True, verbose_name="end of follow-up")
    follow_up_end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True,
                                            verbose_name="reason follow-up ended")
    death_cause = models.CharField(max_length=300, blank=True, verbose_name="cause of death")
    # Progression found without RECIST imaging (symptomatic deterioration judged as progression): counts for
    # PFS as the imaging progressions do (response.selectors takes the earlier).
    clinical_progression = models.DateField(null=True, blank=True, verbose_name="clinical progression")
    # The last contact that showed the subject alive (telephone survival follow-up, a visit elsewhere); OS is
    # censored at the latest of this, the visits done, the doses and the scans.
    last_known_alive = models.DateField(null=True, blank=True, verbose_name="last known alive")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(follow_up_end__isnull=True) & models.Q(follow_up_end_reason=""))
                | (models.Q(follow_up_end__isnull=False) & ~models.Q(follow_up_end_reason="")),
                name="follow_up_end_has_reason",
            ),
            models.CheckConstraint(condition=models.Q(death_cause="") | models.Q(follow_up_end_reason="death"),
                                   name="follow_up_cause_only_for_death"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} follow-up"


class WatchStaff(models.Model):
    """The site staff (user, trial, site) the visit watch has already given the current overdue and due-soon
    notices of their site: whoever is not here yet (a new membership, a reactivated account) gets them on the
    watch's next run, once; a row goes when the user stops being active site staff there."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    trial = models.ForeignKey("trials.Trial", on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey("trials.Site", on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "trial", "site"], name="watch_staff_once")]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.trial_id}/{self.site_id}"
