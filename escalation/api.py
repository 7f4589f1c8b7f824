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

    def get(self, request, code: str):
        trial = access_trial(request.user, code, roles=(Role.SPONSOR, *SITE_ROLES))
        board = cohort_dashboard(trial, now=timezone.now())
        return Response({
            "trial": trial.code,
            "levels": self.LevelSerializer(board["levels"], many=True).data,
            "decisions": self.DecisionSerializer(board["decisions"], many=True).data,
        })
