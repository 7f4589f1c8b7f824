"""Read-only API for the sponsor's cohort dashboard (same selector as the page)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import READ_ERRORS
from escalation.selectors import cohort_dashboard
from trials.access import access_trial
from trials.models import SITE_ROLES, Role


class DashboardAPI(APIView):
    @extend_schema_serializer(component_name="DashboardLevel")
    class LevelSerializer(serializers.Serializer):
        label = serializers.CharField()
        enrolled = serializers.IntegerField()
        evaluable = serializers.IntegerField()
        dlts = serializers.IntegerField()

    @extend_schema_serializer(component_name="DashboardDecision")
    class DecisionSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="pk")
        created_at = serializers.DateTimeField()
        status = serializers.CharField()
        summary = serializers.CharField()
        rationale = serializers.CharField()
        outcomes = serializers.CharField()

    @extend_schema_serializer(component_name="DashboardCohort")
    class CohortSerializer(serializers.Serializer):
        name = serializers.CharField()
        dose_level = serializers.CharField(source="dose_level.label")
        capacity = serializers.IntegerField()
        status = serializers.CharField()
        tumour_types = serializers.ListField(child=serializers.CharField())

    @extend_schema_serializer(component_name="DashboardCohortRow")
    class CohortRowSerializer(CohortSerializer):
        enrolled = serializers.IntegerField()

    @extend_schema_serializer(component_name="DashboardPart")
    class PartSerializer(serializers.Serializer):
        code = serializers.CharField(source="part.code")
        name = serializers.CharField(source="part.name")
        kind = serializers.CharField(source="part.kind")
        status = serializers.CharField(source="part.status")
        enrolled = serializers.IntegerField()
        target = serializers.IntegerField(allow_null=True)
        cohorts = serializers.SerializerMethodField()

        def get_cohorts(self, row):
            return [{**DashboardAPI.CohortSerializer(c["cohort"]).data, "enrolled": c["enrolled"]}
                    for c in row["cohorts"]]

    # The schema (drf-spectacular): a part's cohorts, and the whole answer.
    extend_schema_field(CohortRowSerializer(many=True))(PartSerializer.get_cohorts)
    DashboardSerializer = extend_schema_serializer(component_name="Dashboard")(type(
        "DashboardSerializer", (serializers.Serializer,),
        {"trial": serializers.CharField(), "levels": LevelSerializer(many=True),
         "decisions": DecisionSerializer(many=True), "parts": PartSerializer(many=True)}))

    @extend_schema(operation_id="trial_dashboard", summary="The sponsor's cohort dashboard of a trial",
                   responses={200: DashboardSerializer, **READ_ERRORS})
    def get(self, request, code: str):
        trial = access_trial(request.user, code, roles=(Role.SPONSOR, *SITE_ROLES))
        board = cohort_dashboard(trial, now=timezone.now())
        return Response({
            "trial": trial.code,
            "levels": self.LevelSerializer(board["levels"], many=True).data,
            "decisions": self.DecisionSerializer(board["decisions"], many=True).data,
            # Each part apart: escalation, extension, expansion, single arm (docs/parts.md).
            "parts": self.PartSerializer(board["parts"], many=True).data,
        })
