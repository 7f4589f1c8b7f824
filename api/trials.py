"""API: trials (with their drugs, dose levels, parts and cohorts), the protocol as loaded, and sites.

Everyone with a role in a trial reads it (the sponsor included: these hold no subject data); the
trial-level objects are what the pages show (trials.access.trials_for)."""

from __future__ import annotations

from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import CODE_REGEX, READ_ERRORS, ApiPagination, WriteRoles
from escalation.models import Cohort
from trials.access import trials_for
from trials.models import DoseLevel, Drug, Part, Site, Trial


class DrugSerializer(serializers.ModelSerializer):
    class Meta:
        model = Drug
        fields = ["id", "name", "route", "unit", "basis", "schedule", "administration_days"]


class DoseLevelSerializer(serializers.ModelSerializer):
    doses = serializers.DictField(child=serializers.CharField(), help_text="Drug name -> amount (the drug's unit).")

    class Meta:
        model = DoseLevel
        fields = ["id", "rank", "label", "doses", "titration", "intermediate"]


class PartSerializer(serializers.ModelSerializer):
    class Meta:
        model = Part
        fields = ["id", "code", "name", "kind", "order", "opens_after", "status"]


class CohortSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    part = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    dose_level = serializers.PrimaryKeyRelatedField(read_only=True)
    tumour_types = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Cohort
        fields = ["id", "number", "name", "label", "part", "escalation", "dose_level", "capacity", "tumour_types",
                  "status", "opened_at"]


class TrialSerializer(serializers.ModelSerializer):
    sites = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    drugs = DrugSerializer(many=True, read_only=True)
    dose_levels = DoseLevelSerializer(many=True, read_only=True)
    parts = PartSerializer(many=True, read_only=True)
    cohorts = CohortSerializer(many=True, read_only=True)

    class Meta:
        model = Trial
        fields = ["code", "title", "phase", "design", "dlt_window_days", "cycle_days", "max_cycles",
                  "stagger_first_days", "stagger_next_hours", "requires_sponsor_concurrence", "sites", "drugs",
                  "dose_levels", "parts", "cohorts"]


class ProtocolSerializer(serializers.ModelSerializer):
    definition = serializers.DictField(help_text="The protocol file as loaded (docs/protocols.md).")

    class Meta:
        model = Trial
        fields = ["code", "source_file", "definition_sha256", "definition"]


def _trials(user):
    return (Trial.objects.filter(pk__in=trials_for(user).values("pk")).order_by("code")
            .prefetch_related("sites", "drugs", "dose_levels", "parts",
                              Prefetch("cohorts", queryset=Cohort.objects.select_related("part").order_by("number"))))


@extend_schema_view(list=extend_schema(responses={200: TrialSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: TrialSerializer, **READ_ERRORS}))
class TrialViewSet(viewsets.ReadOnlyModelViewSet):
    """The trials where the user holds a role, by code; with their drugs, dose levels, parts and cohorts."""

    queryset = Trial.objects.none()  # the schema's model; the rows: get_queryset
    serializer_class = TrialSerializer
    permission_classes = [WriteRoles]
    pagination_class = ApiPagination
    lookup_field = "code"
    lookup_value_regex = CODE_REGEX

    def get_queryset(self):
        return _trials(self.request.user)

    @extend_schema(responses={200: ProtocolSerializer, **READ_ERRORS})
    @action(detail=True, methods=["get"], serializer_class=ProtocolSerializer)
    def protocol(self, request, code=None):
        """The protocol as loaded from its file (``trial.definition``), with the file's name and SHA-256."""
        return Response(ProtocolSerializer(self.get_object()).data)


class SiteSerializer(serializers.ModelSerializer):
    trials = serializers.SerializerMethodField()

    class Meta:
        model = Site
        fields = ["code", "name", "trials"]

    def get_trials(self, site) -> list[str]:
        mine = self.context.setdefault("_trial_codes", set(trials_for(self.context["request"].user)
                                                          .values_list("code", flat=True)))
        return sorted(t.code for t in site.trials.all() if t.code in mine)


class SiteFilter(filters.FilterSet):
    trial = filters.CharFilter(field_name="trials__code", help_text="A trial's code.")

    class Meta:
        model = Site
        fields = ["trial"]


@extend_schema_view(list=extend_schema(responses={200: SiteSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: SiteSerializer, **READ_ERRORS}))
class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    """The sites of the user's trials, by code, with which of those trials each one takes part in."""

    queryset = Site.objects.none()
    serializer_class = SiteSerializer
    permission_classes = [WriteRoles]
    pagination_class = ApiPagination
    filterset_class = SiteFilter
    lookup_field = "code"
    lookup_value_regex = CODE_REGEX

    def get_queryset(self):
        return (Site.objects.filter(trials__in=trials_for(self.request.user)).distinct().order_by("code")
                .prefetch_related("trials"))




def register(router) -> None:
    router.register("trials", TrialViewSet, basename="trial")
    router.register("sites", SiteViewSet, basename="site")
