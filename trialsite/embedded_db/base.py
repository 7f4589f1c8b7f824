"""PostgreSQL backend that starts the embedded server (``trialsite.embedded``) on first connection.

Used by the settings when ``DATABASE_URL`` is not set. It is Django's own PostgreSQL backend; only
the socket folder is filled in, once the server runs. The project's main database is created if
missing; test databases are left to Django's test runner.
"""

from django.db.backends.postgresql import base

from trialsite import embedded


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        if not self.settings_dict.get("HOST"):
            if self.settings_dict["NAME"] == embedded.DEFAULT_DB_NAME:
                embedded.database_url(embedded.DEFAULT_DB_NAME)
            self.settings_dict["HOST"] = embedded.postgres_socket_dir()
        return super().get_connection_params()
