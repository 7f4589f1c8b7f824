from django.contrib import admin

from visits.models import PlannedVisit


@admin.register(PlannedVisit)
class PlannedVisitAdmin(admin.ModelAdmin):
    list_display = ["subject", "code", "kind", "target", "window_start", "window_end", "status", "overdue"]
    list_filter = ["kind", "status", "overdue"]
