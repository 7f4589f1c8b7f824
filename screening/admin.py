from django.contrib import admin

from screening.models import ScreeningRecord, SiteReferenceRange


@admin.register(SiteReferenceRange)
class SiteReferenceRangeAdmin(admin.ModelAdmin):
    list_display = ["site", "analyte", "uln", "unit"]
    list_filter = ["site"]


@admin.register(ScreeningRecord)
class ScreeningRecordAdmin(admin.ModelAdmin):
    list_display = ["number", "trial", "site", "status", "consent_date"]
    list_filter = ["trial", "site", "status"]
