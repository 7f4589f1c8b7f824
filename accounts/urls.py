from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("session/", views.session_status, name="session"),
    path("session/keepalive/", views.keepalive, name="keepalive"),
    path("locked/", views.locked, name="locked"),
]
