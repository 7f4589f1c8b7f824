from django.urls import path

from pk import views

app_name = "pk"
urlpatterns = [
    path("subjects/<int:pk>/", views.subject_samples, name="subject"),
    path("subjects/<int:pk>/labels/", views.labels, name="labels"),
    path("subjects/<int:pk>/cycles/<int:cycle>/lambda-z/", views.lambda_z, name="lambda_z"),
    path("samples/<int:pk>/collect/", views.collect, name="collect"),
    path("samples/<int:pk>/missed/", views.missed, name="missed"),
    path("shipments/<int:pk>/", views.shipment, name="shipment"),
    path("trials/<slug:code>/", views.overview, name="overview"),
    path("trials/<slug:code>/shipments/", views.shipments, name="shipments"),
    path("trials/<slug:code>/import/", views.results_import, name="import"),
]
