from django.urls import path

from subjects import views

app_name = "subjects"
urlpatterns = [
    path("enrol/<slug:code>/", views.subject_enrol, name="enrol"),
    path("<int:pk>/", views.subject_detail, name="detail"),
    path("<int:pk>/doses/new/", views.dose_new, name="dose_new"),
    path("<int:pk>/adverse-events/new/", views.adverse_event_new, name="ae_new"),
    path("<int:pk>/gate-override/", views.gate_override_new, name="gate_override"),
]
