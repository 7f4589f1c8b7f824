from django.urls import path

from trials import views

app_name = "trials"
urlpatterns = [
    path("<slug:code>/", views.trial_detail, name="detail"),
    path("<slug:code>/dashboard/", views.trial_dashboard, name="dashboard"),
]
