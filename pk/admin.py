from django.contrib import admin

from pk.models import LabImport, LabResult, LambdaZChoice, Sample, Shipment
from records.admin import ReadOnlyAdmin, ReadOnlyInline


class ResultInline(ReadOnlyInline):
    model = LabResult
    fields = ["analyte", "value", "unit", "blq", "lloq", "ada_positive", "titre", "category", "voided_at"]


@admin.register(Sample)
class SampleAdmin(ReadOnlyAdmin):
    list_display = ["sample_id", "kind", "nominal_at", "status", "collected_at", "deviation", "overdue", "shipment"]
    list_filter = ["kind", "status", "deviation", "overdue"]
    search_fields = ["sample_id"]
    inlines = [ResultInline]


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "trial", "site", "lab", "shipped_at", "temperature", "tracking"]


@admin.register(LabImport)
class LabImportAdmin(ReadOnlyAdmin):
    list_display = ["file_name", "trial", "rows", "imported_by", "imported_at", "sha256"]


@admin.register(LambdaZChoice)
class LambdaZChoiceAdmin(ReadOnlyAdmin):
    list_display = ["subject", "cycle", "analyte", "times", "reason", "chosen_by", "chosen_at"]
