from django.apps import AppConfig


class ResponseConfig(AppConfig):
    name = "response"
    verbose_name = "Tumour response and survival"

    def ready(self):
        from response.kinds import register_all

        register_all()
