from django.contrib import admin

from records.admin import ReadOnlyAdmin
from screening.models import ScreeningRecord, SiteReferenceRange


@admin.register(SiteReferenceRange)
class SiteReferenceRangeAdmin(admin.ModelAdmin):  # administrable (audited)
    list_display = ["site", "analyte", "uln", "unit"]
    list_filter = ["site"]


@admin.register(ScreeningRecord)
class ScreeningRecordAdmin(ReadOnlyAdmin):
    list_display = ["number", "trial", "site", "status", "consent_date", "voided_at"]
    list_filter = ["trial", "site", "status"]

    def get_queryset(self, request):
        return ScreeningRecord.all_objects.all()
