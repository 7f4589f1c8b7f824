from django.contrib import admin

from records.admin import ReadOnlyAdmin
from subjects.models import (
    AdverseEvent,
    Assessment,
    ContinuationException,
    CtcaeTerm,
    DoseAdministration,
    GateOverride,
    Subject,
)

# Clinical records change only in the application (entry, correction with a reason, voiding).


@admin.register(Subject)
class SubjectAdmin(ReadOnlyAdmin):
    list_display = ["code", "trial", "site", "dose_level", "status"]
    list_filter = ["trial", "site", "status"]


@admin.register(DoseAdministration, AdverseEvent, Assessment, ContinuationException)
class ClinicalRecordAdmin(ReadOnlyAdmin):
    def get_queryset(self, request):
        manager = getattr(self.model, "all_objects", self.model._default_manager)
        return manager.all()


@admin.register(CtcaeTerm)
class CtcaeTermAdmin(ReadOnlyAdmin):  # reference data from NCI, loaded by a migration
    list_display = ["term", "soc", "meddra_code"]
    list_filter = ["soc"]
    search_fields = ["term"]


@admin.register(GateOverride)
class GateOverrideAdmin(ReadOnlyAdmin):
    list_display = ["subject", "gate", "overridden_by", "created_at"]
    list_filter = ["gate"]
