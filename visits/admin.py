from django.contrib import admin

from records.admin import ReadOnlyAdmin
from visits.models import FollowUp, PlannedVisit


@admin.register(PlannedVisit)
class PlannedVisitAdmin(ReadOnlyAdmin):
    list_display = ["subject", "code", "kind", "target", "window_start", "window_end", "status", "overdue"]
    list_filter = ["kind", "status", "overdue"]


admin.site.register(FollowUp, ReadOnlyAdmin)
