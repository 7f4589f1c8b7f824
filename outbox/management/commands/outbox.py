"""``manage.py outbox sweep|status``: publish pending outbox messages from the shell (no Celery beat)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from outbox.services import deliver_pending, pending_count


class Command(BaseCommand):
    help = "Publish pending outbox messages (sweep) or count them (status)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["sweep", "status"])

    def handle(self, *args, action, **options):
        if action == "sweep":
            sent = deliver_pending()
            self.stdout.write(f"sent {sent}, pending {pending_count()}")
        else:
            self.stdout.write(f"pending {pending_count()}")
