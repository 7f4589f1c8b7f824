"""``manage.py migrate`` as the owning role, then the app role's grants (docs/operations.md).

Django's own ``migrate``, except that it connects as ``DATABASE_OWNER_URL``'s role when that is set
(so the tables it creates belong to the owner, never to the app role of ``DATABASE_URL``) and runs
``db_roles`` afterwards, so that new tables, and new audit tables above all, get their grants at once.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.commands import migrate

from trialsite.management.commands.db_roles import owner_connection


class Command(migrate.Command):
    help = (f"{migrate.Command.help} Connects as DATABASE_OWNER_URL when set, then re-applies the app role's "
            "grants (manage.py db_roles).")

    def handle(self, *args, **options):
        database = options["database"]
        with owner_connection(database):
            super().handle(*args, **options)
            if not options["plan"] and not options["check_unapplied"]:
                call_command("db_roles", database=database, verbosity=options["verbosity"],
                             stdout=self.stdout, stderr=self.stderr)
