from django.contrib import admin

from escalation.models import Cohort, EscalationDecision, Signature


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["trial", "number", "dose_level", "capacity", "status"]
    list_filter = ["trial", "status"]


class SignatureInline(admin.TabularInline):
    model = Signature
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EscalationDecision)
class EscalationDecisionAdmin(admin.ModelAdmin):
    list_display = ["trial", "cohort", "status", "created_at", "rationale"]
    list_filter = ["trial", "status"]
    inlines = [SignatureInline]

    def has_change_permission(self, request, obj=None):
        return False  # decisions change only through signatures
