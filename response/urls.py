from django.urls import path

from response import views

app_name = "response"
urlpatterns = [
    path("subjects/<int:pk>/", views.subject_response, name="subject"),
    path("subjects/<int:pk>/baseline/", views.baseline_new, name="baseline"),
    path("subjects/<int:pk>/scans/new/", views.timepoint_new, name="timepoint_new"),
    path("scans/<int:pk>/review/", views.review, name="review"),
    path("trials/<slug:code>/", views.efficacy, name="efficacy"),
]
