from django.contrib import admin

from records.admin import ReadOnlyAdmin, ReadOnlyInline
from response.models import Lesion, LesionMeasurement, TumourAssessment


class MeasurementInline(ReadOnlyInline):
    model = LesionMeasurement
    fields = ["lesion", "status", "diameter_mm", "axis", "voided_at", "void_reason"]


@admin.register(TumourAssessment)
class TumourAssessmentAdmin(ReadOnlyAdmin):
    list_display = ["subject", "assessed_on", "baseline", "sum_mm", "computed_response", "response", "voided_at"]
    list_filter = ["baseline", "computed_response", "response"]
    inlines = [MeasurementInline]


@admin.register(Lesion)
class LesionAdmin(ReadOnlyAdmin):
    list_display = ["subject", "key", "kind", "organ", "node", "voided_at"]
