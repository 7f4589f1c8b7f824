from django.urls import include, path

from escalation import rp2d_views, views

app_name = "escalation"
urlpatterns = [
    path("decisions/<int:pk>/", views.decision_detail, name="decision"),
    path("trials/<slug:code>/intermediate-level/", views.intermediate_level_new, name="intermediate_level"),
    path("trials/<slug:code>/rp2d/", rp2d_views.rp2d_page, name="rp2d"),
    path("", include("escalation.intrapatient_urls")),
]
