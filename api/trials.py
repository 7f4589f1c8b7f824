"""API: trials (with their drugs, dose levels, parts and cohorts), the protocol as loaded, and sites.

Everyone with a role in a trial reads it (the sponsor included: these hold no subject data); the
trial-level objects are what the pages show (trials.access.trials_for)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import CODE_REGEX, READ_ERRORS, WRITE_ERRORS, ApiPagination, CheckedCharField, WriteRoles
from escalation.models import Cohort
from trials.access import access_trial, trials_for
from trials.models import DoseLevel, Drug, Part, Role, Site, Trial


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


class IntermediateLevelSerializer(serializers.Serializer):
    lower = serializers.IntegerField(min_value=1, help_text="The id of the level below the new one.")
    upper = serializers.IntegerField(min_value=1, help_text="The id of the adjacent level above it.")
    label = CheckedCharField(max_length=100, help_text="e.g. 450 mg")
    doses = serializers.DictField(
        child=serializers.DecimalField(max_digits=9, decimal_places=3, min_value=0),
        help_text="Drug name -> amount (the drug's unit), one for every drug of the trial.")
    reason = CheckedCharField(multiline=True, min_length=10, max_length=2000,
                              help_text="Why the level is added (kept in the audit history).")


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
    write_roles = {"intermediate_level": (Role.INVESTIGATOR,)}
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

    @extend_schema(request=IntermediateLevelSerializer, responses={201: DoseLevelSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path="intermediate-level", serializer_class=IntermediateLevelSerializer)
    def intermediate_level(self, request, code=None):
        """Add a dose level between two adjacent ones (``escalation.services.dose_level_add_intermediate``): an
        investigator of the trial, with the reason; each drug's dose between its two neighbours'."""
        from escalation.services import dose_level_add_intermediate

        trial = access_trial(request.user, code, roles=(Role.INVESTIGATOR,))
        form = IntermediateLevelSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        levels = {level.pk: level for level in trial.dose_levels.filter(pk__in=(data["lower"], data["upper"]))}
        for name in ("lower", "upper"):
            if data[name] not in levels:
                raise ValidationError({name: "Choose a dose level of this trial."})
        drugs = list(trial.drugs.values_list("name", flat=True))
        doses = data["doses"]
        missing, unknown = [d for d in drugs if d not in doses], [d for d in doses if d not in drugs]
        if unknown:
            raise ValidationError({"doses": f"{unknown[0]} is not a drug of this trial ({', '.join(drugs)})."})
        if missing:
            raise ValidationError({"doses": f"Give the {missing[0]} dose."})
        try:
            level = dose_level_add_intermediate(trial=trial, user=request.user, lower=levels[data["lower"]],
                                                upper=levels[data["upper"]], label=data["label"], doses=doses,
                                                reason=data["reason"])
        except ValidationError as exc:  # the service's form-wide errors (key None): ``non_field_errors``
            if hasattr(exc, "error_dict") and None in exc.error_dict:
                exc.error_dict["__all__"] = exc.error_dict.pop(None)
            raise
        return Response(DoseLevelSerializer(level).data, status=status.HTTP_201_CREATED)


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
