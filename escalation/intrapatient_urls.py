"""Intra-patient dose escalation pages, included in escalation/urls.py (names in the ``escalation`` namespace):
``path("", include("escalation.intrapatient_urls"))``."""

from django.urls import path

from escalation import intrapatient_views as views

urlpatterns = [
    path("subjects/<int:pk>/intra-patient/", views.intrapatient_request, name="intrapatient_request"),
    path("intra-patient/<int:pk>/", views.intrapatient_detail, name="intrapatient_detail"),
    path("trials/<slug:code>/intra-patient/", views.intrapatient_list, name="intrapatient_list"),
]
