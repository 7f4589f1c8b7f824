"""``manage.py outbox sweep|status``: publish due outbox messages from the shell (no Celery beat), or
show how many rows wait in each state and the oldest unacknowledged ones with their last error."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from outbox.models import OutboxMessage
from outbox.services import ack_timeout, counts, deliver_pending


class Command(BaseCommand):
    help = ("Publish the due outbox messages — never sent, or sent and not acknowledged within "
            "OUTBOX_ACK_TIMEOUT_SECONDS — (sweep), or count the rows per state (status).")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["sweep", "status"])

    def handle(self, *args, action, **options):
        if action == "sweep":
            sent = deliver_pending()
            self.stdout.write(f"published {sent}")
        by_state = counts()
        self.stdout.write(", ".join(f"{state} {n}" for state, n in by_state.items())
                          + f" (acknowledgement timeout {ack_timeout():g} s)")
        if action == "status":
            for message in OutboxMessage.objects.filter(acked_at__isnull=True).order_by("id")[:20]:
                line = f"  {message} attempts {message.attempts}"
                if message.sent_at:
                    line += f", last sent {message.sent_at:%Y-%m-%d %H:%M:%S}"
                if message.last_error:
                    line += f", last error: {message.last_error[:200]}"
                self.stdout.write(line)
