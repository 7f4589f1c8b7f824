from django.contrib import admin

from trials.models import DoseLevel, Drug, Membership, Site, Trial


class DrugInline(admin.TabularInline):
    model = Drug
    extra = 0


class DoseLevelInline(admin.TabularInline):
    model = DoseLevel
    extra = 0


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["code", "phase", "design", "source_file"]
    readonly_fields = ["definition", "definition_sha256", "source_file"]
    inlines = [DrugInline, DoseLevelInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "trial", "site", "role", "principal"]
    list_filter = ["trial", "role", "site"]
