from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring: source-data verification"

    def ready(self) -> None:
        # After the apps that register record kinds (records, pk, response come first in INSTALLED_APPS).
        from monitoring import signals

        signals.connect()
