from allauth.account import views as account_views
from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from accounts.views import email_managed_by_administrators as account_admin_only
from trialsite import views

# The admin signs in through the same flow (second factor, lockout): its own log-in form redirects there.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", views.home, name="home"),
    # Sign-in, second factor, password change and e-mail reset: django-allauth (docs/security.md).
    path("login/", account_views.login, name="login"),
    path("logout/", account_views.logout, name="logout"),
    path("accounts/", include("accounts.urls")),
    path("accounts/email/", account_admin_only, name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("trials/", include("trials.urls")),
    path("subjects/", include("subjects.urls")),
    path("screening/", include("screening.urls")),
    path("escalation/", include("escalation.urls")),
    path("visits/", include("visits.urls")),
    path("response/", include("response.urls")),
    path("pk/", include("pk.urls")),
    path("notifications/", include("notifications.urls")),
    path("records/", include("records.urls")),
    path("exports/", include("exports.urls")),
    path("queries/", include("queries.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("api/", include("trialsite.api_urls")),
    path("admin/", admin.site.urls),
]

# A 404 under /api/ is JSON, as every API answer; the HTML page elsewhere (api.common.not_found).
handler404 = "api.common.not_found"
