from django.urls import path

from monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("trials/<slug:code>/", views.progress, name="progress"),
    path("subjects/<int:pk>/", views.subject_sdv, name="subject"),
    path("verify/<slug:kind>/<int:pk>/", views.verify, name="verify"),
    path("verifications/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
]
