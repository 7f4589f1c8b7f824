from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Exports: CSV, CDISC ODM 1.3.2, SDTM and Define-XML"
