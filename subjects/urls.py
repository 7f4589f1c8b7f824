from django.urls import path

from subjects import import_views, views

app_name = "subjects"
urlpatterns = [
    path("enrol/<slug:code>/", views.subject_enrol, name="enrol"),
    path("trials/<slug:code>/", views.subject_list, name="list"),
    path("trials/<slug:code>/import/", import_views.subject_import, name="import"),
    path("trials/<slug:code>/adverse-events/", views.adverse_event_list, name="ae_list"),
    path("ctcae/", views.ctcae_search, name="ctcae_search"),
    path("ctcae/grade/", views.ctcae_grade, name="ctcae_grade"),
    path("<int:pk>/", views.subject_detail, name="detail"),
    path("<int:pk>/doses/new/", views.dose_new, name="dose_new"),
    path("<int:pk>/assessments/new/", views.assessment_new, name="assessment_new"),
    path("<int:pk>/adverse-events/new/", views.adverse_event_new, name="ae_new"),
    path("<int:pk>/gate-override/", views.gate_override_new, name="gate_override"),
    path("<int:pk>/continuation/", views.continuation_new, name="continuation"),
    path("adverse-events/<int:pk>/", views.adverse_event_detail, name="ae_detail"),
    path("<int:pk>/status/", views.subject_status, name="status"),
    path("<int:pk>/dispensing/<int:drug_pk>/new/", views.dispensing_new, name="dispensing_new"),
    path("dispensing/<int:pk>/return/", views.dispensing_return, name="dispensing_return"),
]
