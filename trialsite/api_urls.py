from django.urls import path

from escalation.api import DashboardAPI

urlpatterns = [
    path("trials/<slug:code>/dashboard/", DashboardAPI.as_view(), name="api-dashboard"),
]
