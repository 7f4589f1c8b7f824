"""API: PK (docs/api.md, "Escalation, response and PK"): samples (read; collected or recorded not taken through
``pk.services.sample_collect`` / ``sample_missed`` by the subject's site staff), lab results (read), and a
trial's NCA summaries per dose level.

Who reads what: the PK pages' scope (``pk.selectors.subjects_in_scope``): site staff see the samples and
results of their sites' subjects by code; the trial's pharmacokineticists every subject of the trial by code;
a sponsor no sample or result, only the per-level summaries (aggregates, as on the de-identified PK page).
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, ApiPagination, CheckedCharField, WriteRoles
from pk import selectors, services
from pk.models import LabResult, Sample, SampleKind
from trials.access import access_trial, readable_subjects, trials_for
from trials.models import SITE_ROLES


def readable_samples(user):
    """The samples the user may read: those of the subjects whose records the user reads
    (``trials.access.readable_subjects``: site staff and the monitor at their sites, as the subject's samples
    page; a data manager trial-wide, by code), and ``pk.selectors.samples_in_scope`` over the user's trials
    (the trial's pharmacokineticists); a sponsor none."""
    condition = Q(subject__in=readable_subjects(user).values("pk"))
    for trial in trials_for(user):
        subjects, deidentified = selectors.subjects_in_scope(user, trial)
        if not deidentified:
            condition |= Q(subject__in=subjects.values("pk"))
    return Sample.objects.filter(condition)


# --------------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------------


class SampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sample_id = serializers.CharField(help_text="The ID on the tube's label.")
    code = serializers.CharField(help_text="Time point code, e.g. C1-PK-4h.")
    trial = serializers.CharField(source="subject.trial.code")
    subject = serializers.CharField(source="subject.code")
    subject_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=SampleKind.choices)
    analytes = serializers.ListField(child=serializers.CharField())
    cycle = serializers.IntegerField()
    nominal_hours = serializers.FloatField(help_text="Hours after the dose; 0 = pre-dose.")
    nominal_at = serializers.DateTimeField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Sample.Status.choices)
    collected_at = serializers.DateTimeField(allow_null=True)
    deviation_minutes = serializers.IntegerField(allow_null=True)
    deviation = serializers.BooleanField(help_text="Collected outside its window (kept, shown).")
    missed_reason = serializers.CharField()
    comment = serializers.CharField()
    overdue = serializers.BooleanField()
    shipment = serializers.IntegerField(source="shipment_id", allow_null=True)
    recorded_at = serializers.DateTimeField(allow_null=True)


class CollectSerializer(serializers.Serializer):
    collected_at = serializers.DateTimeField(help_text="When the sample was taken (not in the future).")
    comment = CheckedCharField(max_length=200, required=False, allow_blank=True, default="")


class MissedSerializer(serializers.Serializer):
    missed_reason = CheckedCharField(max_length=200, help_text="Why the sample was not taken.")


class SampleFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="subject__trial__code", label="Trial code")
    subject = django_filters.NumberFilter(field_name="subject_id", label="Subject id")
    status = django_filters.ChoiceFilter(choices=Sample.Status.choices)
    kind = django_filters.ChoiceFilter(choices=SampleKind.choices)
    cycle = django_filters.NumberFilter()

    class Meta:
        model = Sample
        fields = ["trial", "subject", "status", "kind", "cycle"]


@extend_schema_view(list=extend_schema(responses={200: SampleSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: SampleSerializer, **READ_ERRORS}))
class SampleViewSet(viewsets.ReadOnlyModelViewSet):
    """PK, ADA, RO and biomarker samples of the subjects in the user's PK scope, by subject and nominal time."""

    serializer_class = SampleSerializer
    pagination_class = ApiPagination
    filterset_class = SampleFilter
    permission_classes = [WriteRoles]
    write_roles = {"collect": SITE_ROLES, "missed": SITE_ROLES}
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Sample.objects.none()
        return (readable_samples(self.request.user).select_related("subject__trial", "subject__site", "dose")
                .order_by("subject__code", "nominal_at", "code"))

    def get_serializer_class(self):
        return {"collect": CollectSerializer, "missed": MissedSerializer}.get(self.action, SampleSerializer)

    def _write(self, request, form_class, write):
        sample = self.get_object()
        form = form_class(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        write(sample, form.validated_data)
        return Response(SampleSerializer(self.get_queryset().get(pk=sample.pk)).data)

    @extend_schema(request=CollectSerializer, responses={200: SampleSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def collect(self, request, pk=None):
        """Record the sample taken (``pk.services.sample_collect``): the site staff of the subject's site.
        Outside its window it is kept as a deviation; a time in the future, before the dose or a second
        different time is refused on ``collected_at``."""
        return self._write(request, CollectSerializer, lambda sample, data: services.sample_collect(
            sample=sample, user=request.user, collected_at=data["collected_at"], comment=data["comment"]))

    @extend_schema(request=MissedSerializer, responses={200: SampleSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def missed(self, request, pk=None):
        """Record the sample not taken, with the reason (``pk.services.sample_missed``)."""
        return self._write(request, MissedSerializer, lambda sample, data: services.sample_missed(
            sample=sample, user=request.user, reason=data["missed_reason"]))


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


class LabResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sample = serializers.IntegerField(source="sample_id")
    sample_code = serializers.CharField(source="sample.code")
    trial = serializers.CharField(source="sample.subject.trial.code")
    subject = serializers.CharField(source="sample.subject.code")
    subject_id = serializers.IntegerField(source="sample.subject_id")
    cycle = serializers.IntegerField(source="sample.cycle")
    nominal_hours = serializers.FloatField(source="sample.nominal_hours")
    analyte = serializers.CharField()
    value = serializers.DecimalField(max_digits=14, decimal_places=5, allow_null=True)
    unit = serializers.CharField()
    blq = serializers.BooleanField(help_text="Below the LLOQ (no value).")
    lloq = serializers.DecimalField(max_digits=14, decimal_places=5, allow_null=True)
    ada_positive = serializers.BooleanField(allow_null=True)
    titre = serializers.IntegerField(allow_null=True)
    category = serializers.CharField()
    analysed_on = serializers.DateField(allow_null=True)


class LabResultFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="sample__subject__trial__code", label="Trial code")
    subject = django_filters.NumberFilter(field_name="sample__subject_id", label="Subject id")
    sample = django_filters.NumberFilter(field_name="sample_id")
    analyte = django_filters.CharFilter()
    cycle = django_filters.NumberFilter(field_name="sample__cycle")

    class Meta:
        model = LabResult
        fields = ["trial", "subject", "sample", "analyte", "cycle"]


@extend_schema_view(list=extend_schema(responses={200: LabResultSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: LabResultSerializer, **READ_ERRORS}))
class LabResultViewSet(viewsets.ReadOnlyModelViewSet):
    """The bioanalytical lab's results (live ones) of the samples the user may read; imported through the
    results import page."""

    serializer_class = LabResultSerializer
    pagination_class = ApiPagination
    filterset_class = LabResultFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LabResult.objects.none()
        return (LabResult.objects.filter(sample__in=readable_samples(self.request.user).values("pk"))
                .select_related("sample__subject__trial").order_by("sample__subject__code", "sample__nominal_at",
                                                                   "analyte"))


# --------------------------------------------------------------------------------------------------
# NCA summaries per dose level
# --------------------------------------------------------------------------------------------------


class StatisticsSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    n_missing = serializers.IntegerField()
    geo_mean = serializers.FloatField(allow_null=True)
    geo_cv_pct = serializers.FloatField(allow_null=True)
    mean = serializers.FloatField(allow_null=True)
    sd = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    minimum = serializers.FloatField(allow_null=True)
    maximum = serializers.FloatField(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())


class ParameterSummarySerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    summary = StatisticsSerializer()


class LevelSummarySerializer(serializers.Serializer):
    level = serializers.CharField()
    n = serializers.IntegerField(help_text="Subjects with a cycle-1 profile.")
    parameters = ParameterSummarySerializer(many=True)


class NcaSummarySerializer(serializers.Serializer):
    trial = serializers.CharField()
    analyte = serializers.CharField(allow_null=True)
    deidentified = serializers.BooleanField()
    levels = LevelSummarySerializer(many=True)


class NcaSummaryViewSet(viewsets.GenericViewSet):
    """A trial's cycle-1 NCA parameters summarised per dose level (``pk.selectors.level_summaries``): the same
    for every reader of the trial's PK page (aggregates; a sponsor's are computed de-identified)."""

    serializer_class = NcaSummarySerializer
    lookup_field = "code"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        from trials.models import Trial

        return Trial.objects.none()

    @extend_schema(responses={200: NcaSummarySerializer, **READ_ERRORS})
    def retrieve(self, request, code=None):
        trial = access_trial(request.user, code)
        if services.schedule_for(trial) is None:
            raise Http404(f"{trial.code} has no PK sampling schedule")
        rows, deidentified = selectors.nca_rows(request.user, trial)
        data = {"trial": trial.code, "analyte": selectors.pk_analyte(trial), "deidentified": deidentified,
                "levels": selectors.level_summaries(rows)}
        return Response(NcaSummarySerializer(data).data)


def register(router) -> None:
    router.register("pk-samples", SampleViewSet, basename="pk-sample")
    router.register("pk-results", LabResultViewSet, basename="pk-result")
    router.register("pk-summaries", NcaSummaryViewSet, basename="pk-summary")
