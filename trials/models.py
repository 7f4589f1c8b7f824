"""Protocols (trials), their drugs and dose levels, sites, and who holds which role where.

A protocol is declared as a data file in ``protocols/`` and loaded by ``manage.py load_protocols``;
the rows here are that file's current state. A new protocol is a new file, not new code.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Site(models.Model):
    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


def _export_secret() -> str:
    import secrets

    return secrets.token_hex(32)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Trial(models.Model):
    class Design(models.TextChoices):
        TITRATION_3PLUS3 = "titration+3+3", "Accelerated titration then 3+3"
        THREE_PLUS_THREE = "3+3", "3+3"
        FIXED_DOSE = "fixed", "Fixed dose (no escalation)"

    code = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=400)
    phase = models.CharField(max_length=20)
    design = models.CharField(max_length=20, choices=Design.choices)
    # Parameters of the escalation design (see trialrules.escalation.Design).
    design_parameters = models.JSONField(default=dict, blank=True)
    dlt_window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Timing gates: days from the 1st subject's first dose to the 2nd; hours between later subjects.
    stagger_first_days = models.PositiveSmallIntegerField(default=0)
    stagger_next_hours = models.PositiveSmallIntegerField(default=0)
    requires_sponsor_concurrence = models.BooleanField(default=False)
    cycle_days = models.PositiveSmallIntegerField(default=21)
    max_cycles = models.PositiveSmallIntegerField(null=True, blank=True)
    visit_plan = models.JSONField(default=list, blank=True)
    definition = models.JSONField(default=dict, blank=True, help_text="The protocol file as loaded.")
    definition_sha256 = models.CharField(max_length=64, blank=True)
    source_file = models.CharField(max_length=200, blank=True)
    sites = models.ManyToManyField(Site, related_name="trials", blank=True)

    class ExportDates(models.TextChoices):
        STUDY_DAY = "study_day", "As study days (day 1 = first dose)"
        SHIFT = "shift", "Shifted by a secret number of days per subject"

    # De-identified exports (the sponsor's, docs/exports.md): how dates leave the site; the secret keys
    # each subject's date shift and is never exported.
    export_dates = models.CharField(max_length=10, choices=ExportDates.choices, default=ExportDates.STUDY_DAY)
    export_secret = models.CharField(max_length=64, default=_export_secret, editable=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def escalates(self) -> bool:
        return self.design != self.Design.FIXED_DOSE

    def enrolling_part(self):
        """The part taking subjects now (the latest open one), or None."""
        return self.parts.filter(status="open").order_by("-order").first()


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Drug(models.Model):
    class Basis(models.TextChoices):
        FLAT = "flat", "Flat dose"
        PER_KG = "per_kg", "Per kg body weight"

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="drugs")
    name = models.CharField(max_length=100)
    route = models.CharField(max_length=40)
    unit = models.CharField(max_length=20)
    basis = models.CharField(max_length=10, choices=Basis.choices, default=Basis.FLAT)
    schedule = models.CharField(max_length=200, help_text="e.g. 'day 1 of each 21-day cycle'")
    administration_days = models.JSONField(default=list, help_text="Cycle days with a dose, e.g. [1].")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["trial", "order"]
        constraints = [models.UniqueConstraint(fields=["trial", "name"], name="drug_unique_name_per_trial")]

    def __str__(self) -> str:
        return self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DoseLevel(models.Model):
    """One dose level; ``rank`` orders levels, so an intermediate level can sit between two others."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="dose_levels")
    rank = models.DecimalField(max_digits=12, decimal_places=6)
    label = models.CharField(max_length=100)
    # Dose of each drug of the regimen at this level: {"BAT6005": "300"} (in the drug's unit).
    doses = models.JSONField(default=dict)
    titration = models.BooleanField(default=False, help_text="Accelerated titration (cohorts of 1).")
    intermediate = models.BooleanField(default=False)

    class Meta:
        ordering = ["trial", "rank"]
        constraints = [models.UniqueConstraint(fields=["trial", "rank"], name="dose_level_unique_rank")]

    def __str__(self) -> str:
        return self.label


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Part(models.Model):
    """One part of a protocol (``[[parts]]`` of its file): dose escalation, dose extension, phase II expansion
    or single-arm phase II, with its cohorts, dose(s), target sizes, tumour types and eligibility
    differences (``definition``, as in the file). A later part opens when its condition is met (``opens_after
    = "rp2d"``: once the recommended phase II dose is signed); each part reports separately."""

    class Kind(models.TextChoices):
        ESCALATION = "escalation", "Dose escalation"
        EXTENSION = "extension", "Dose extension"
        EXPANSION = "expansion", "Phase II expansion"
        SINGLE_ARM = "single-arm", "Single-arm phase II"

    class Status(models.TextChoices):
        PLANNED = "planned", "Not open yet"
        OPEN = "open", "Enrolling"
        CLOSED = "closed", "Closed to enrolment"

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="parts")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    order = models.PositiveSmallIntegerField()
    # "" (open from the start) or "rp2d" (opens when the RP2D declaration is signed).
    opens_after = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    definition = models.JSONField(default=dict, blank=True, help_text="The part's table in the protocol file.")

    class Meta:
        ordering = ["trial", "order"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="part_unique_code_per_trial")]

    def __str__(self) -> str:
        return f"{self.trial.code} {self.name}"

    @property
    def escalates(self) -> bool:
        return self.kind == self.Kind.ESCALATION


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Site coordinator"
    INVESTIGATOR = "investigator", "Investigator"
    SPONSOR = "sponsor", "Sponsor"
    ADMINISTRATOR = "administrator", "Administrator"
    # Trial-wide (all sites): the unit's pharmacokineticist reads the PK, ADA, RO and biomarker results of
    # every subject by code (never identity) and chooses λz points; imports the lab's results files.
    PHARMACOKINETICIST = "pharmacokineticist", "Pharmacokineticist"
    # At one site: the sponsor's clinical research associate reads the identifiable records of the site's
    # subjects, marks fields or forms source-data verified and raises data queries; writes no clinical data.
    MONITOR = "monitor", "Monitor (CRA)"
    # Trial-wide: reads every record by subject code (never identity), raises and closes data queries,
    # exports the trial's data (docs/data-management.md).
    DATA_MANAGER = "data_manager", "Data manager"


# The roles that enter clinical data at a site.
SITE_ROLES = (Role.COORDINATOR, Role.INVESTIGATOR)
# The roles held at one site (a membership names the site): the site staff, and the site's monitor, who
# reads what the staff read there.
SITE_SCOPED_ROLES = (*SITE_ROLES, Role.MONITOR)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Membership(models.Model):
    """A user's role in one trial: at one site (coordinators, investigators) or trial-wide."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="memberships")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    principal = models.BooleanField(default=False, help_text="Trial-level principal investigator.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "trial", "site", "role"], name="membership_unique",
                                    nulls_distinct=False),
            models.CheckConstraint(
                condition=~models.Q(role__in=[r.value for r in SITE_SCOPED_ROLES]) | models.Q(site__isnull=False),
                name="membership_site_roles_need_site",
            ),
        ]

    def __str__(self) -> str:
        where = self.site.code if self.site_id else "all sites"
        return f"{self.user} — {self.get_role_display()} — {self.trial.code} ({where})"
