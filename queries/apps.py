from django.apps import AppConfig


class QueriesConfig(AppConfig):
    name = "queries"
    verbose_name = "Data queries (discrepancy notes) and edit checks"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from queries.checks import after_save

        # Edit checks after any save of a record of a checked kind (queries/checks.py).
        post_save.connect(after_save, dispatch_uid="queries.edit_checks")
