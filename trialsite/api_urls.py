from django.urls import include, path

from escalation.api import DashboardAPI

urlpatterns = [
    path("trials/<slug:code>/dashboard/", DashboardAPI.as_view(), name="api-dashboard"),
    path("v1/", include("api.urls")),
]
