from django.contrib import admin

from subjects.models import (
    AdverseEvent,
    Assessment,
    ContinuationException,
    CtcaeTerm,
    DoseAdministration,
    GateOverride,
    Subject,
)


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ["code", "trial", "site", "dose_level", "status"]
    list_filter = ["trial", "site", "status"]


admin.site.register(DoseAdministration)
admin.site.register(AdverseEvent)
admin.site.register(Assessment)
admin.site.register(ContinuationException)


@admin.register(CtcaeTerm)
class CtcaeTermAdmin(admin.ModelAdmin):
    list_display = ["term", "soc", "meddra_code"]
    list_filter = ["soc"]
    search_fields = ["term"]


@admin.register(GateOverride)
class GateOverrideAdmin(admin.ModelAdmin):
    list_display = ["subject", "gate", "overridden_by", "created_at"]
    list_filter = ["gate"]
    readonly_fields = ["subject", "gate", "reason", "overridden_by", "created_at"]

    def has_add_permission(self, request):  # created by investigators through gate_override only
        return False
