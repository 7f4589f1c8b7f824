from django.contrib import admin

from outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """View only: adding, editing or deleting a row would create, change or lose queued work."""

    list_display = ["id", "task_name", "args", "created_at", "sent_at", "acked_at", "attempts", "sends",
                    "last_error"]
    list_filter = ["task_name"]
    readonly_fields = ["task_name", "args", "kwargs", "created_at", "sent_at", "acked_at", "task_id", "attempts",
                       "sends", "last_error"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
