"""Read-only API for the sponsor's cohort dashboard (same selector as the page)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from escalation.selectors import cohort_dashboard
from trials.access import access_trial
from trials.models import SITE_ROLES, Role


class DashboardAPI(APIView):
    class LevelSerializer(serializers.Serializer):
        label = serializers.CharField()
        enrolled = serializers.IntegerField()
        evaluable = serializers.IntegerField()
        dlts = serializers.IntegerField()

    class DecisionSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="pk")
        created_at = serializers.DateTimeField()
        status = serializers.CharField()
        summary = serializers.CharField()
        rationale = serializers.CharField()
        outcomes = serializers.CharField()

    class CohortSerializer(serializers.Serializer):
        name = serializers.CharField()
        dose_level = serializers.CharField(source="dose_level.label")
        capacity = serializers.IntegerField()
        status = serializers.CharField()
        tumour_types = serializers.ListField(child=serializers.CharField())

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
