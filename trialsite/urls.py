from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from trialsite import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("trials/", include("trials.urls")),
    path("subjects/", include("subjects.urls")),
    path("screening/", include("screening.urls")),
    path("escalation/", include("escalation.urls")),
    path("visits/", include("visits.urls")),
    path("notifications/", include("notifications.urls")),
    path("records/", include("records.urls")),
    path("api/", include("trialsite.api_urls")),
    path("admin/", admin.site.urls),
]
