from django.apps import AppConfig


class PkConfig(AppConfig):
    name = "pk"
    verbose_name = "Pharmacokinetics, ADA, receptor occupancy and biomarkers"

    def ready(self):
        from pk.kinds import register_all

        register_all()
