from django.contrib import admin

from subjects.models import AdverseEvent, DoseAdministration, Subject


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ["code", "trial", "site", "dose_level", "status"]
    list_filter = ["trial", "site", "status"]


admin.site.register(DoseAdministration)
admin.site.register(AdverseEvent)
