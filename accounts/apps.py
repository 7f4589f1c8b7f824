from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Sign-in and signatures"

    def ready(self):
        from accounts import lockout  # noqa: F401  (signal receivers)
