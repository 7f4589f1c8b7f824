from django.urls import path

from visits import views

app_name = "visits"
urlpatterns = [
    path("", views.attention_list, name="list"),
    path("subjects/<int:pk>/", views.subject_calendar, name="calendar"),
    path("subjects/<int:pk>/follow-up/", views.follow_up_edit, name="follow_up"),
    path("<int:pk>/record/", views.visit_record, name="record"),
]
