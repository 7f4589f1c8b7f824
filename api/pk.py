"""API: PK (docs/api.md, "Escalation, response and PK"): samples (read; collected or recorded not taken through
``pk.services.sample_collect`` / ``sample_missed`` by the subject's site staff), lab results (read), and a
trial's NCA summaries per dose level.

Who reads what: the PK pages' scope (``pk.selectors.subjects_in_scope``): site staff see the samples and
results of their sites' subjects by code; the trial's pharmacokineticists every subject of the trial by code;
a sponsor no sample or result, only the per-level summaries (aggregates, as on the de-identified PK page).
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, ApiPagination, CheckedCharField, WriteRoles
from pk import selectors, services
from pk.models import LabResult, LambdaZChoice, Sample, SampleKind, Shipment
from trials.access import access_trial, at_staff_sites, readable_subjects, roles_in, sites_for, trials_for
from trials.models import SITE_ROLES, Role, Trial

SMALL_INT = 32767  # PositiveSmallIntegerField's upper bound


def _trial_named(user, code: str) -> Trial:
    """The trial ``code`` among the user's (a 400 on ``trial`` otherwise: a write names it in its body)."""
    trial = trials_for(user).filter(code=code).first()
    if trial is None:
        raise ValidationError({"trial": f"No trial {code} among yours."})
    return trial


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


# --------------------------------------------------------------------------------------------------
# Shipments
# --------------------------------------------------------------------------------------------------


class ShipmentSampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sample_id = serializers.CharField(help_text="The ID on the tube's label.")
    code = serializers.CharField(help_text="Time point code, e.g. C1-PK-4h.")
    subject = serializers.CharField(source="subject.code")
    collected_at = serializers.DateTimeField(allow_null=True)


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trial = serializers.CharField(source="trial.code")
    site = serializers.CharField(source="site.code")
    lab = serializers.CharField(help_text="The bioanalytical lab.")
    shipped_at = serializers.DateTimeField()
    temperature = serializers.ChoiceField(choices=Shipment.Temperature.choices)
    tracking = serializers.CharField(help_text="Courier tracking number (may be empty).")
    shipped_by = serializers.CharField(source="shipped_by.username")
    created_at = serializers.DateTimeField()
    samples = ShipmentSampleSerializer(many=True, source="samples.all")


class ShipmentCreateSerializer(serializers.Serializer):
    trial = serializers.CharField(max_length=40, help_text="The trial's code.")
    site = serializers.CharField(max_length=40, help_text="The code of one of your sites in the trial.")
    samples = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=500,
        help_text="Ids of the site's collected samples not shipped yet (pk-samples).",
        error_messages={"min_length": "Choose the samples in the box.", "empty": "Choose the samples in the box."})
    lab = CheckedCharField(max_length=120, help_text="The bioanalytical lab.")
    shipped_at = serializers.DateTimeField(help_text="When the box left the site (not in the future).")
    temperature = serializers.ChoiceField(choices=Shipment.Temperature.choices)
    tracking = CheckedCharField(max_length=80, required=False, allow_blank=True, default="")


class ShipmentFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="trial__code", label="Trial code")
    site = django_filters.CharFilter(field_name="site__code", label="Site code")

    class Meta:
        model = Shipment
        fields = ["trial", "site"]


@extend_schema_view(list=extend_schema(responses={200: ShipmentSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: ShipmentSerializer, **READ_ERRORS}),
                    create=extend_schema(request=ShipmentCreateSerializer,
                                         responses={201: ShipmentSerializer, **WRITE_ERRORS}))
class ShipmentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Boxes of collected samples sent to the bioanalytical lab, as on the trial's shipments page: read and made
    by the coordinators and investigators of the box's site (``pk.services.shipment_create``)."""

    serializer_class = ShipmentSerializer
    pagination_class = ApiPagination
    filterset_class = ShipmentFilter
    permission_classes = [WriteRoles]
    write_roles = {"create": SITE_ROLES}
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Shipment.objects.none()
        return (Shipment.objects.filter(at_staff_sites(self.request.user))
                .select_related("trial", "site", "shipped_by").order_by("-shipped_at", "-pk"))

    def get_serializer_class(self):
        return ShipmentCreateSerializer if self.action == "create" else ShipmentSerializer

    def create(self, request, *args, **kwargs):
        """Ship collected samples of one of your sites (the shipments page's form): each sample ships once; a
        sample not collected, already shipped or of another site is refused on ``samples``."""
        form = ShipmentCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        trial = _trial_named(request.user, data["trial"])
        if not roles_in(request.user, trial) & set(SITE_ROLES):
            raise PermissionDenied("Your role in this trial does not allow this.")
        site = sites_for(request.user, trial).filter(code=data["site"]).first()
        if site is None:
            raise ValidationError({"site": "Choose one of your sites in this trial."})
        waiting = {s.pk: s for s in Sample.objects.filter(
            subject__trial=trial, subject__site=site, status=Sample.Status.COLLECTED, shipment__isnull=True,
            pk__in=data["samples"])}
        unknown = next((pk for pk in data["samples"] if pk not in waiting), None)
        if unknown is not None:
            raise ValidationError({"samples": f"{unknown} is not a collected sample waiting to be shipped."})
        shipment = services.shipment_create(
            user=request.user, trial=trial, site=site, samples=list(waiting.values()), lab=data["lab"],
            shipped_at=data["shipped_at"], temperature=data["temperature"], tracking=data["tracking"])
        return Response(ShipmentSerializer(self.get_queryset().get(pk=shipment.pk)).data,
                        status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------------------------------
# λz choices
# --------------------------------------------------------------------------------------------------


class LambdaZChooseSerializer(serializers.Serializer):
    subject = serializers.IntegerField(min_value=1, help_text="The subject's id.")
    cycle = serializers.IntegerField(min_value=1, max_value=SMALL_INT)
    times = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=100000), required=False, default=list, max_length=200,
        help_text="Hours after the dose of the profile's measurable points in the terminal phase (at least 3); "
                  "empty: back to the automatic best fit.")
    reason = CheckedCharField(multiline=True, max_length=2000, help_text="Why these points (kept in the audit).")


class LambdaZChoiceSerializer(serializers.Serializer):
    subject = serializers.IntegerField(source="subject_id")
    subject_code = serializers.CharField(source="subject.code")
    trial = serializers.CharField(source="subject.trial.code")
    cycle = serializers.IntegerField()
    analyte = serializers.CharField()
    times = serializers.ListField(child=serializers.FloatField(), help_text="Empty: the automatic best fit.")
    reason = serializers.CharField()
    chosen_by = serializers.CharField(source="chosen_by.username")
    chosen_at = serializers.DateTimeField()
    lambda_z = serializers.FloatField(allow_null=True, help_text="λz of the profile now (1/h).")
    lambda_z_times = serializers.ListField(child=serializers.FloatField(), help_text="The points of that fit.")
    lambda_z_adj_r2 = serializers.FloatField(allow_null=True)
    half_life = serializers.FloatField(allow_null=True, help_text="Terminal half-life (h).")


class LambdaZViewSet(viewsets.GenericViewSet):
    """The pharmacokineticist's choice of one profile's λz points, with the reason (the λz page)."""

    serializer_class = LambdaZChooseSerializer
    permission_classes = [WriteRoles]
    write_roles = {"create": (Role.PHARMACOKINETICIST,)}
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return LambdaZChoice.objects.none()

    @extend_schema(request=LambdaZChooseSerializer, responses={200: LambdaZChoiceSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        """Set the λz points of a subject's cycle (``pk.services.lambda_z_choose``): the trial's
        pharmacokineticists. Points that are not measurable sample times of the profile, fewer than 3, or
        that give no λz are refused on ``times``; the reason is required."""
        form = LambdaZChooseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            subject = selectors.profile_subject(request.user, data["subject"])
        except Http404:
            raise ValidationError({"subject": "No such subject among those whose PK you read."}) from None
        if not services.can_choose_lambda_z(request.user, subject.trial):
            raise PermissionDenied("Only the trial's pharmacokineticists choose the λz points.")
        analyte = selectors.pk_analyte(subject.trial)
        if analyte is None or selectors.profile_for(subject, data["cycle"], analyte) is None:
            raise ValidationError({"cycle": f"{subject.code} has no concentrations for cycle {data['cycle']}."})
        choice = services.lambda_z_choose(user=request.user, subject=subject, cycle=data["cycle"], analyte=analyte,
                                          times=data["times"], reason=data["reason"])
        result = selectors.profile_for(subject, data["cycle"], analyte).analyse()
        choice = LambdaZChoice.objects.select_related("subject__trial", "chosen_by").get(pk=choice.pk)
        for name in ("lambda_z", "lambda_z_adj_r2", "half_life"):
            setattr(choice, name, getattr(result, name))
        choice.lambda_z_times = list(result.lambda_z_times)
        return Response(LambdaZChoiceSerializer(choice).data)


# --------------------------------------------------------------------------------------------------
# Results import
# --------------------------------------------------------------------------------------------------


class ResultsImportSerializer(serializers.Serializer):
    trial = serializers.CharField(max_length=40, help_text="The trial's code.")
    file = serializers.FileField(required=False, help_text="The lab's CSV file (multipart); or give ``text``.")
    text = serializers.CharField(required=False, trim_whitespace=False, max_length=services.MAX_FILE_BYTES,
                                 help_text="The CSV file's text (instead of ``file``).")
    file_name = CheckedCharField(max_length=200, required=False, default="results.csv",
                                 help_text="The name kept with ``text`` (a file keeps its own).")
    dry_run = serializers.BooleanField(default=False, help_text="Check every row, import nothing.")

    def validate(self, attrs):
        given = [name for name in ("file", "text") if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError({"file": "Give the lab's CSV file, or its text in `text` (one)."})
        name = attrs["file"].name if "file" in given else attrs["file_name"]
        if not name.lower().endswith((".csv", ".txt")):
            raise serializers.ValidationError({"file" if "file" in given else "file_name":
                                               "Choose a CSV file (.csv)."})
        return attrs


class ImportProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="The data row (1-based; null: the whole file).")
    line = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ResultsImportReportSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="The import (null for a dry run).")
    trial = serializers.CharField()
    file_name = serializers.CharField()
    rows = serializers.IntegerField(help_text="Results imported (a dry run: that would be).")
    sha256 = serializers.CharField()
    imported_at = serializers.DateTimeField(allow_null=True)
    dry_run = serializers.BooleanField()


class _DryRun(Exception):
    """Not an error: rolls the checked import back."""

    def __init__(self, batch):
        super().__init__("dry run")
        self.batch = batch


class ResultsImportViewSet(viewsets.GenericViewSet):
    """The bioanalytical lab's results file, imported all or nothing as on the results import page."""

    serializer_class = ResultsImportSerializer
    permission_classes = [WriteRoles]
    write_roles = {"create": (Role.PHARMACOKINETICIST, Role.COORDINATOR)}
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return LabResult.objects.none()

    @extend_schema(request=ResultsImportSerializer,
                   responses={200: ResultsImportReportSerializer, 201: ResultsImportReportSerializer,
                              **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        """Import the lab's results file (``pk.services.results_import``): the trial's pharmacokineticists and
        site coordinators, for the samples they see. Every row is checked first; with any problem nothing is
        imported and the 400 names each one: ``{"file": ["…"], "problems": [{"row", "line", "column",
        "message"}]}`` (``text`` instead of ``file`` when the text was given). ``dry_run``: the same checks,
        nothing imported (200)."""
        form = ResultsImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        trial = _trial_named(request.user, data["trial"])
        if not services.can_import(request.user, trial):
            raise PermissionDenied("Only the trial's pharmacokineticists and the site coordinators import results.")
        field = "file" if data.get("file") is not None else "text"
        if field == "file":
            name, content = data["file"].name, data["file"].read()
        else:
            name, content = data["file_name"], data["text"].encode()
        try:
            with transaction.atomic():
                batch = services.results_import(user=request.user, trial=trial, file_name=name, content=content,
                                                samples=selectors.samples_in_scope(request.user, trial))
                if data["dry_run"]:
                    raise _DryRun(batch)
        except _DryRun as dry:
            batch, dry_run = dry.batch, True
        except services.ImportRefused as exc:
            problems = exc.report.problems
            return Response({field: [f"{len(problems)} problem{'s' if len(problems) != 1 else ''}: nothing was "
                                     "imported. Correct the file and import it again."],
                             "problems": ImportProblemSerializer(problems, many=True).data},
                            status=status.HTTP_400_BAD_REQUEST)
        except ValidationError as exc:
            if field == "text" and "file" in getattr(exc, "error_dict", {}):
                raise ValidationError({"text": exc.message_dict["file"]}) from None
            raise
        else:
            dry_run = False
        report = {"id": None if dry_run else batch.pk, "trial": trial.code, "file_name": batch.file_name,
                  "rows": batch.rows, "sha256": batch.sha256,
                  "imported_at": None if dry_run else batch.imported_at, "dry_run": dry_run}
        return Response(ResultsImportReportSerializer(report).data,
                        status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("pk-samples", SampleViewSet, basename="pk-sample")
    router.register("pk-results", LabResultViewSet, basename="pk-result")
    router.register("pk-summaries", NcaSummaryViewSet, basename="pk-summary")
    router.register("pk-shipments", ShipmentViewSet, basename="pk-shipment")
    router.register("pk-lambda-z", LambdaZViewSet, basename="pk-lambda-z")
    router.register("pk-imports", ResultsImportViewSet, basename="pk-import")
