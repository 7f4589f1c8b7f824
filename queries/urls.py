from django.urls import path

from queries import review_views, views

app_name = "queries"
urlpatterns = [
    path("trials/<slug:code>/", views.query_list, name="list"),
    path("trials/<slug:code>/records/", review_views.record_review, name="review"),
    path("<int:pk>/", views.query_detail, name="detail"),
    path("raise/<slug:kind>/<int:pk>/", views.query_raise, name="raise"),
]
