"""Read-only API for the sponsor's cohort dashboard (same selector as the page)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import READ_ERRORS
from escalation.board import trial_dashboard
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

    # The pictures' numbers (escalation.dashboard, docs/dashboard.md): ``subject`` is a code only for site
    # staff at the subject's site, never for a sponsor.
    @extend_schema_serializer(component_name="DashboardPathSubject")
    class PathSubjectSerializer(serializers.Serializer):
        order = serializers.IntegerField(help_text="Order of enrolment in the dose-escalation part (1 = first).")
        subject = serializers.CharField(allow_null=True, help_text="The subject's code, for site staff of its "
                                        "site only; null otherwise.", source="code")
        site = serializers.CharField()
        cohort = serializers.CharField()
        level = serializers.CharField()
        state = serializers.ChoiceField(choices=["N", "G", "T", "pending", "not evaluable"],
                                        help_text="The escalation engine's outcome: N no DLT, G drug-related "
                                        "grade >= 2 without a DLT, T DLT.")

    @extend_schema_serializer(component_name="DashboardPathDecision")
    class PathDecisionSerializer(serializers.Serializer):
        cohort = serializers.CharField()
        after = serializers.FloatField(help_text="Where the cohort ends on the enrolment order (its last + 0.5).")
        decision = serializers.IntegerField()
        kind = serializers.ChoiceField(choices=["escalate", "stay", "de-escalate", "stop", "awaiting"])
        recommends = serializers.ChoiceField(choices=["escalate", "stay", "de-escalate", "stop"])
        label = serializers.CharField()

    @extend_schema_serializer(component_name="DashboardDlt")
    class DltSerializer(serializers.Serializer):
        level = serializers.CharField()
        term = serializers.CharField()
        grade = serializers.IntegerField()
        study_day = serializers.IntegerField(allow_null=True, help_text="Day of onset; day 1 is the first dose's.")
        subject = serializers.CharField(allow_null=True, help_text="For site staff of the subject's site only.")

    @extend_schema_serializer(component_name="DashboardEnrolment")
    class EnrolmentSerializer(serializers.Serializer):
        site = serializers.CharField()
        date = serializers.DateField()
        enrolled = serializers.IntegerField()
        cumulative = serializers.IntegerField()

    @extend_schema_serializer(component_name="DashboardOverdue")
    class OverdueSerializer(serializers.Serializer):
        site = serializers.CharField()
        name = serializers.CharField()
        overdue = serializers.IntegerField()
        open = serializers.IntegerField()

    # The schema (drf-spectacular): a part's cohorts, the path's lists, and the whole answer.
    extend_schema_field(CohortRowSerializer(many=True))(PartSerializer.get_cohorts)
    PathSerializer = extend_schema_serializer(component_name="DashboardPath")(type(
        "PathSerializer", (serializers.Serializer,),
        {"subjects": PathSubjectSerializer(many=True), "decisions": PathDecisionSerializer(many=True)}))
    DashboardSerializer = extend_schema_serializer(component_name="Dashboard")(type(
        "DashboardSerializer", (serializers.Serializer,),
        {"trial": serializers.CharField(), "levels": LevelSerializer(many=True),
         "decisions": DecisionSerializer(many=True), "parts": PartSerializer(many=True),
         "path": PathSerializer(), "dlts": DltSerializer(many=True), "enrolment": EnrolmentSerializer(many=True),
         "overdue": OverdueSerializer(many=True)}))

    @extend_schema(operation_id="trial_dashboard", summary="The sponsor's cohort dashboard of a trial",
                   responses={200: DashboardSerializer, **READ_ERRORS})
    def get(self, request, code: str):
        trial = access_trial(request.user, code, roles=(Role.SPONSOR, *SITE_ROLES))
        # The escalation part is cached per trial version and viewer's sites (escalation.board), as served.
        answer, overdue = trial_dashboard(trial, user=request.user, serialize=lambda board: {
            "trial": trial.code,
            "levels": self.LevelSerializer(board["levels"], many=True).data,
            "decisions": self.DecisionSerializer(board["decisions"], many=True).data,
            # Each part apart: escalation, extension, expansion, single arm (docs/parts.md).
            "parts": self.PartSerializer(board["parts"], many=True).data,
            # The pictures' numbers (docs/dashboard.md): subject codes for site staff of their sites only.
            "path": {"subjects": self.PathSubjectSerializer(board["path"], many=True).data,
                     "decisions": self.PathDecisionSerializer(board["boundaries"], many=True).data},
            "dlts": self.DltSerializer(board["dlts"], many=True).data,
            "enrolment": self.EnrolmentSerializer(board["enrolment"], many=True).data,
        })
        return Response({**answer, "overdue": self.OverdueSerializer(overdue, many=True).data})
