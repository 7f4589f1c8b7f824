from django.urls import path

from escalation import views

app_name = "escalation"
urlpatterns = [
    path("decisions/<int:pk>/", views.decision_detail, name="decision"),
    path("trials/<slug:code>/intermediate-level/", views.intermediate_level_new, name="intermediate_level"),
]
