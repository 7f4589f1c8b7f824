"""The e-mail server from one URL (``EMAIL_URL``), as Django's ``MAILERS`` entry.

django-environ parses the URL (``smtp://``, ``smtp+tls://``, ``smtps://``/``smtp+ssl://``,
``consolemail://``, ``filemail://``, ``memorymail://``, ``dummymail://``; user and password
percent-encoded); this maps its old-style ``EMAIL_*`` keys onto the backend's options.
"""

from __future__ import annotations

import environ
from django.core.exceptions import ImproperlyConfigured

_OPTIONS = {
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
    "EMAIL_TIMEOUT": "timeout",
}


def mailer_from_url(url: str) -> dict:
    try:
        config = environ.Env.email_url_config(url)
    except (ImproperlyConfigured, ValueError, KeyError) as exc:
        scheme = url.split(":", 1)[0] if ":" in url else url
        raise ImproperlyConfigured(
            f"EMAIL_URL: cannot use the scheme {scheme!r}; give smtp://, smtp+tls://, smtps:// (or "
            "consolemail:// for a local demo)"
        ) from exc
    backend = config["EMAIL_BACKEND"]
    mailer: dict = {"BACKEND": backend}
    if backend.endswith("smtp.EmailBackend"):
        if not config.get("EMAIL_HOST"):
            raise ImproperlyConfigured("EMAIL_URL: an SMTP URL needs a host, e.g. smtp+tls://smtp.example.org:587")
        options = {_OPTIONS[key]: value for key, value in config.items() if key in _OPTIONS and value not in (None, "")}
        if url.split(":", 1)[0].lower() in {"smtps", "smtp+ssl"}:
            # Implicit TLS (port 465), not STARTTLS: django-environ reads smtps as use_tls.
            options.pop("use_tls", None)
            options["use_ssl"] = True
        options.setdefault("timeout", 30)
        mailer["OPTIONS"] = options
    elif backend.endswith("filebased.EmailBackend"):
        mailer["OPTIONS"] = {"file_path": config.get("EMAIL_FILE_PATH") or "/tmp/trialsite-mail"}  # noqa: S108
    return mailer
