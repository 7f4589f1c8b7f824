from django.urls import path

from screening import views

app_name = "screening"
urlpatterns = [
    path("trials/<slug:code>/", views.screening_list, name="list"),
    path("trials/<slug:code>/new/", views.screening_new, name="new"),
    path("<int:pk>/", views.screening_detail, name="detail"),
    path("<int:pk>/values/", views.screening_values, name="values"),
    path("<int:pk>/judgements/", views.screening_judge, name="judge"),
    path("<int:pk>/decision/", views.screening_decide, name="decide"),
]
