from django.contrib import admin

from records.admin import ReadOnlyAdmin, ReadOnlyInline
from trials.models import DoseLevel, Drug, Membership, Site, Trial


class DrugInline(ReadOnlyInline):
    model = Drug


class DoseLevelInline(ReadOnlyInline):
    model = DoseLevel


@admin.register(Trial)
class TrialAdmin(ReadOnlyAdmin):
    """Trials, their drugs and dose levels come from the protocol files (manage.py load_protocols);
    intermediate levels are added by an investigator in the application, with a reason."""

    list_display = ["code", "phase", "design", "source_file"]
    inlines = [DrugInline, DoseLevelInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "trial", "site", "role", "principal"]
    list_filter = ["trial", "role", "site"]
