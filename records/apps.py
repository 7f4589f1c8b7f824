from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = "Records: corrections, voiding and audit history"

    def ready(self) -> None:
        from records.kinds import register_all

        register_all()
