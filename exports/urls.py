from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("trials/<slug:code>/", views.trial_exports, name="trial"),
    path("trials/<slug:code>/jobs/", views.job_list, name="jobs"),
    path("jobs/<int:pk>/download/", views.download, name="download"),
]
