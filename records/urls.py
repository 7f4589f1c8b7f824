from django.urls import path

from records import views

app_name = "records"
urlpatterns = [
    path("<slug:kind>/<int:pk>/correct/", views.record_correct, name="correct"),
    path("<slug:kind>/<int:pk>/void/", views.record_void, name="void"),
    path("<slug:kind>/<int:pk>/history/", views.record_history, name="history"),
]
