from django.contrib import admin

from escalation.models import Cohort, EscalationDecision, Signature
from records.admin import ReadOnlyAdmin, ReadOnlyInline

# Cohort state, decisions and signatures change only through the escalation service and signatures.


@admin.register(Cohort)
class CohortAdmin(ReadOnlyAdmin):
    list_display = ["trial", "number", "dose_level", "capacity", "status"]
    list_filter = ["trial", "status"]


class SignatureInline(ReadOnlyInline):
    model = Signature


@admin.register(EscalationDecision)
class EscalationDecisionAdmin(ReadOnlyAdmin):
    list_display = ["trial", "cohort", "status", "created_at", "rationale"]
    list_filter = ["trial", "status"]
    inlines = [SignatureInline]
