"""API: tumour response (docs/api.md, "Escalation, response and PK"): tumour assessments with their time-point
responses (read; the baseline scan with its lesions recorded through ``response.services.baseline_record``, a
follow-up time point through ``response.services.assessment_record``, the investigator's review of a time point
through ``response.services.assessment_review``), each subject's best overall response, and a trial's efficacy
summary.

Who reads what: the records of a subject as ``trials.access.readable_subjects`` says (site staff and the monitor
at their sites; a data manager trial-wide, by subject code); only the site staff of the subject's site record a
scan, only an investigator of the subject's site reviews one (403 otherwise). The efficacy summary is the
efficacy page's (``response.selectors``): site staff see their own sites' subjects by code, a sponsor the whole
trial de-identified ("Subject n", no dates).
"""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, ApiPagination, CheckedCharField, WriteRoles, require_writer
from response import selectors, services
from response.models import RESPONSE_CHOICES, Lesion, LesionMeasurement, TumourAssessment
from subjects.models import Subject
from trials.access import access_trial, readable_subjects
from trials.models import SITE_ROLES, Role


def readable_assessments(user):
    """Live tumour assessments of the subjects the user may read (trials.access.readable_subjects)."""
    return TumourAssessment.objects.filter(subject__in=readable_subjects(user).values("pk"))


# --------------------------------------------------------------------------------------------------
# Tumour assessments (time points)
# --------------------------------------------------------------------------------------------------


class LesionSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="T1–T5 for targets, NT1… for non-targets.")
    kind = serializers.ChoiceField(choices=Lesion.Kind.choices)
    organ = serializers.CharField()
    location = serializers.CharField()
    node = serializers.BooleanField(help_text="A lymph node (measured on its short axis).")


class MeasurementSerializer(serializers.Serializer):
    lesion = LesionSerializer()
    status = serializers.ChoiceField(choices=LesionMeasurement.Status.choices)
    diameter_mm = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    axis = serializers.CharField()


class TumourAssessmentSerializer(serializers.Serializer):
    """One imaging time point: the baseline or a follow-up, what the RECIST 1.1 rules computed, and the
    investigator's review (``overall``: the response that counts)."""

    id = serializers.IntegerField()
    trial = serializers.CharField(source="subject.trial.code")
    subject = serializers.CharField(source="subject.code")
    subject_id = serializers.IntegerField()
    visit = serializers.IntegerField(source="visit_id", allow_null=True)
    baseline = serializers.BooleanField()
    assessed_on = serializers.DateField()
    method = serializers.ChoiceField(choices=TumourAssessment.Method.choices)
    new_lesions = serializers.ChoiceField(choices=TumourAssessment.NewLesions.choices)
    sum_mm = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)
    change_from_baseline_pct = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)
    change_from_nadir_pct = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)
    nadir_mm = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)
    target_response = serializers.CharField()
    non_target_response = serializers.CharField()
    computed_response = serializers.CharField(help_text="The time-point response the rules computed.")
    computed_reasons = serializers.ListField(child=serializers.CharField())
    response = serializers.CharField(help_text="The investigator's review (empty: not yet reviewed).")
    override_reason = serializers.CharField()
    overall = serializers.CharField(help_text="The response that counts: the investigator's, else the computed one.")
    reviewed = serializers.BooleanField()
    recorded_at = serializers.DateTimeField()
    measurements = MeasurementSerializer(many=True)


# Named as the measurement it records: one enum of statuses in the schema (MeasurementRequest / Measurement).
@extend_schema_serializer(component_name="Measurement")
class MeasurementInputSerializer(serializers.Serializer):
    lesion = serializers.CharField(max_length=8, help_text="A baseline lesion's key (T1…, NT1…).")
    status = serializers.ChoiceField(choices=LesionMeasurement.Status.choices, default="measured",
                                     help_text="Targets: measured, too_small or not_evaluated; non-targets: present, "
                                               "absent, progression or not_evaluated.")
    diameter_mm = serializers.DecimalField(max_digits=6, decimal_places=1, min_value=0, required=False,
                                           allow_null=True, default=None,
                                           help_text="A measured target's diameter (0 when it disappeared).")


class TimePointInputSerializer(serializers.Serializer):
    """A follow-up scan: every baseline lesion measured (or not evaluated), as on the time-point form."""

    subject = serializers.IntegerField(help_text="Subject id.")
    assessed_on = serializers.DateField(help_text="Scan date.")
    method = serializers.ChoiceField(choices=TumourAssessment.Method.choices, default=TumourAssessment.Method.CT)
    new_lesions = serializers.ChoiceField(choices=TumourAssessment.NewLesions.choices,
                                          default=TumourAssessment.NewLesions.NONE)
    visit = serializers.IntegerField(required=False, allow_null=True, default=None,
                                     help_text="The subject's imaging visit (id) the scan is for.")
    measurements = MeasurementInputSerializer(many=True, help_text="One entry per baseline lesion.")
    comment = CheckedCharField(required=False, allow_blank=True, default="", write_only=True,
                               help_text="Not stored: scans carry no free text (kept for form parity).")

    def validate_measurements(self, rows):
        keys = [row["lesion"] for row in rows]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise serializers.ValidationError(f"Each lesion once: {', '.join(twice)} given more than once.")
        return rows


BASELINE_LESIONS_MAX = 10  # the baseline page's rows (response.forms.BASELINE_ROWS)


class BaselineLesionInputSerializer(serializers.Serializer):
    """One baseline lesion, as a row of the baseline page: numbered T1…, NT1… in the order given."""

    # Not an enum in the schema: the lesions' read ``kind`` already names the enum (ENUM_NAME_OVERRIDES otherwise).
    kind = serializers.CharField(max_length=12, help_text="target or non_target.")
    organ = CheckedCharField(max_length=80, help_text="The organ (at most 2 targets per organ, RECIST 1.1 §4.2).")
    location = CheckedCharField(max_length=200, required=False, allow_blank=True, default="",
                                help_text="Where in the organ, e.g. 'right upper lobe'.")
    node = serializers.BooleanField(required=False, default=False, help_text="A lymph node (short axis).")
    diameter_mm = serializers.DecimalField(max_digits=6, decimal_places=1, min_value=0, max_value=Decimal("9999.9"),
                                           required=False, allow_null=True, default=None,
                                           help_text="A target's baseline diameter (mm).")
    axis = serializers.ChoiceField(choices=LesionMeasurement.Axis.choices, required=False, allow_blank=True,
                                   default="", help_text="How a target was measured (long; short for nodes).")

    def validate_kind(self, value):
        if value not in Lesion.Kind.values:
            raise serializers.ValidationError(f"Choose one of: {', '.join(Lesion.Kind.values)}.")
        return value

    def validate(self, attrs):
        if attrs["kind"] == Lesion.Kind.TARGET:
            if attrs["diameter_mm"] is None:
                raise serializers.ValidationError({"diameter_mm": "A target lesion needs its baseline diameter "
                                                                  "in mm."})
            if not attrs["axis"]:
                raise serializers.ValidationError({"axis": "Say how the target was measured (longest diameter; "
                                                           "short axis for lymph nodes)."})
        return attrs


class BaselineInputSerializer(serializers.Serializer):
    """The baseline scan and its lesions, as on the baseline page."""

    subject = serializers.IntegerField(min_value=1, help_text="Subject id.")
    assessed_on = serializers.DateField(help_text="Scan date (before the first dose).")
    method = serializers.ChoiceField(choices=TumourAssessment.Method.choices, default=TumourAssessment.Method.CT)
    lesions = BaselineLesionInputSerializer(many=True, max_length=BASELINE_LESIONS_MAX,
                                            help_text=f"Up to {BASELINE_LESIONS_MAX} lesions, targets measured.")

    def validate_assessed_on(self, value):
        if value > timezone.localdate():
            raise serializers.ValidationError("A scan date cannot be in the future.")
        return value


class ReviewInputSerializer(serializers.Serializer):
    """The investigator's review of a time point: confirm the computed response, or set another with a reason."""

    response = serializers.ChoiceField(choices=RESPONSE_CHOICES, help_text="The overall response.")
    override_reason = CheckedCharField(multiline=True, required=False, allow_blank=True, default="",
                                       max_length=2000,
                                       help_text=f"When the response differs from the computed one (at least "
                                                 f"{services.OVERRIDE_REASON_MIN_LENGTH} characters).")


class TumourAssessmentFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="subject__trial__code", label="Trial code")
    subject = django_filters.NumberFilter(field_name="subject_id", label="Subject id")
    baseline = django_filters.BooleanFilter()
    response = django_filters.CharFilter(method="by_overall", label="Overall response (CR, PR, SD, PD…)")

    class Meta:
        model = TumourAssessment
        fields = ["trial", "subject", "baseline", "response"]

    def by_overall(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(response=value) | Q(response="", computed_response=value))


@extend_schema_view(list=extend_schema(responses={200: TumourAssessmentSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: TumourAssessmentSerializer, **READ_ERRORS}),
                    baseline=extend_schema(request=BaselineInputSerializer,
                                           responses={201: TumourAssessmentSerializer, **WRITE_ERRORS}),
                    review=extend_schema(request=ReviewInputSerializer,
                                         responses={200: TumourAssessmentSerializer, **WRITE_ERRORS}))
class TumourAssessmentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Tumour assessments (imaging time points) and their responses, oldest scan first per subject."""

    serializer_class = TumourAssessmentSerializer
    pagination_class = ApiPagination
    filterset_class = TumourAssessmentFilter
    permission_classes = [WriteRoles]
    write_roles = {"create": SITE_ROLES, "baseline": SITE_ROLES, "review": (Role.INVESTIGATOR,)}
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TumourAssessment.objects.none()
        return (readable_assessments(self.request.user).select_related("subject__trial")
                .prefetch_related("measurements__lesion").order_by("subject__code", "assessed_on", "pk"))

    def get_serializer_class(self):
        return TimePointInputSerializer if self.action == "create" else TumourAssessmentSerializer

    @extend_schema(request=TimePointInputSerializer, responses={201: TumourAssessmentSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        """Record a follow-up time point (``response.services.assessment_record``): the responses are computed
        by the RECIST 1.1 rules. Errors name the field (``assessed_on``, ``visit``, ``measurements.T1``…);
        nothing is saved."""
        form = TimePointInputSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = form.validated_data
        subject = readable_subjects(request.user).filter(pk=data["subject"]).first()
        if subject is None:
            raise ValidationError({"subject": "No such subject among those you may see."})
        visit = None
        if data["visit"] is not None:
            visit = subject.visits.filter(pk=data["visit"], kind="imaging").exclude(status="missed").first()
            if visit is None:
                raise ValidationError({"visit": "Choose one of this subject's imaging visits (not a missed one)."})
        lesions = {lesion.key for lesion in subject.lesions.all()}
        values = {row["lesion"]: (row["status"], row["diameter_mm"] if row["status"] == "measured" else None)
                  for row in data["measurements"]}
        try:
            assessment = services.assessment_record(
                subject=subject, user=request.user, assessed_on=data["assessed_on"], method=data["method"],
                new_lesions=data["new_lesions"], values=values, visit=visit)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                exc = ValidationError({(f"measurements.{key}" if key in lesions or key in values else key): errors
                                       for key, errors in exc.error_dict.items()})
            raise exc from None
        assessment = self.get_queryset().get(pk=assessment.pk)
        return Response(TumourAssessmentSerializer(assessment, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @action(detail=False, methods=["post"])
    def baseline(self, request):
        """Record the baseline scan and its lesions (the baseline page, ``response.services.baseline_record``):
        site staff of the subject's site. Targets are numbered T1…, non-targets NT1… in the order given; an
        error about a lesion names its place in the list (``lesions.<index>.<field>``, from 0); nothing is
        saved. Once recorded, the baseline changes by a correction, or a void with a reason."""
        form = BaselineInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        subject = readable_subjects(request.user).filter(pk=data["subject"]).first()
        if subject is None:
            raise ValidationError({"subject": f"No such subject: {data['subject']}."})
        require_writer(request.user, subject, SITE_ROLES,
                       "Only the site staff of the subject's site record tumour scans.")
        entries, index_of = [], {}
        counts = {Lesion.Kind.TARGET: 0, Lesion.Kind.NON_TARGET: 0}
        for index, row in enumerate(data["lesions"]):
            counts[row["kind"]] += 1  # numbered as the service numbers them
            index_of[f"{'T' if row['kind'] == Lesion.Kind.TARGET else 'NT'}{counts[row['kind']]}"] = index
            entries.append(services.LesionEntry(
                kind=row["kind"], organ=row["organ"], location=row["location"], node=row["node"],
                diameter_mm=row["diameter_mm"], axis=row["axis"] if row["kind"] == Lesion.Kind.TARGET else ""))
        try:
            assessment = services.baseline_record(subject=subject, user=request.user,
                                                  assessed_on=data["assessed_on"], method=data["method"],
                                                  lesions=entries)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                def field(name):
                    parts = name.split(".")
                    if len(parts) == 3 and parts[0] == "lesions" and parts[1] in index_of:
                        return f"lesions.{index_of[parts[1]]}.{parts[2]}"
                    return name

                exc = ValidationError({field(name): errors for name, errors in exc.error_dict.items()})
            raise exc from None
        assessment = self.get_queryset().get(pk=assessment.pk)
        return Response(TumourAssessmentSerializer(assessment, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """The investigator's review of a follow-up time point (the response page's review form,
        ``response.services.assessment_review``): an investigator of the subject's site confirms the computed
        response or sets another with ``override_reason``. The baseline, or a time point with no computed
        response, has nothing to review (400 on `response`)."""
        assessment = self.get_object()
        require_writer(request.user, assessment.subject, (Role.INVESTIGATOR,),
                       "Only an investigator of the subject's site reviews tumour responses.")
        form = ReviewInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.assessment_review(assessment=assessment, user=request.user, response=form.validated_data["response"],
                                   reason=form.validated_data["override_reason"])
        assessment = self.get_queryset().get(pk=assessment.pk)
        return Response(TumourAssessmentSerializer(assessment, context=self.get_serializer_context()).data)


# --------------------------------------------------------------------------------------------------
# A subject's best overall response
# --------------------------------------------------------------------------------------------------


class TimePointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assessed_on = serializers.DateField()
    baseline = serializers.BooleanField()
    computed_response = serializers.CharField()
    response = serializers.CharField()
    overall = serializers.CharField()
    reviewed = serializers.BooleanField()
    sum_mm = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)
    change_from_baseline_pct = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)


class BorSerializer(serializers.Serializer):
    bor = serializers.CharField(help_text="CR, PR, SD, NON-CR/NON-PD, PD, NE or MISSING.")
    date = serializers.DateField(allow_null=True, help_text="The date of the assessment that made it.")
    reason = serializers.CharField()


class SubjectResponseSerializer(serializers.Serializer):
    """A subject's scans in short, and the best overall response the trial's rules give (null before the first
    dose)."""

    subject_id = serializers.IntegerField(source="subject.pk")
    subject = serializers.CharField(source="subject.code")
    trial = serializers.CharField(source="subject.trial.code")
    lesions = LesionSerializer(many=True)
    time_points = TimePointSerializer(many=True, source="assessments")
    best_overall_response = BorSerializer(source="efficacy.bor", allow_null=True, default=None)
    best_change_pct = serializers.FloatField(source="efficacy.best_pct", allow_null=True, default=None,
                                             help_text="The best (lowest) change of the target sum from baseline.")
    progression = serializers.DateField(source="efficacy.progression", allow_null=True, default=None)
    unreviewed = serializers.IntegerField(source="efficacy.unreviewed", default=0,
                                          help_text="Follow-up time points not yet reviewed by the investigator.")


class SubjectResponseFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="trial__code", label="Trial code")

    class Meta:
        model = Subject
        fields = ["trial"]


@extend_schema_view(list=extend_schema(responses={200: SubjectResponseSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: SubjectResponseSerializer, **READ_ERRORS}))
class SubjectResponseViewSet(viewsets.ReadOnlyModelViewSet):
    """Per subject (id): the time points and the best overall response (``response.selectors.subject_response``)."""

    pagination_class = ApiPagination
    filterset_class = SubjectResponseFilter
    serializer_class = SubjectResponseSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Subject.objects.none()
        return readable_subjects(self.request.user).order_by("trial__code", "code")

    def get_serializer(self, instance=None, *args, **kwargs):
        if instance is None:
            return super().get_serializer(*args, **kwargs)
        many = kwargs.pop("many", False)
        today = timezone.localdate()

        def summary(subject):
            return {"subject": subject, **selectors.subject_response(subject, today=today)}

        rows = [summary(s) for s in instance] if many else summary(instance)
        return SubjectResponseSerializer(rows, many=many, context=self.get_serializer_context())


# --------------------------------------------------------------------------------------------------
# A trial's efficacy summary
# --------------------------------------------------------------------------------------------------


class RateSerializer(serializers.Serializer):
    k = serializers.IntegerField()
    n = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    lower = serializers.FloatField(allow_null=True, help_text="Exact 95 % interval.")
    upper = serializers.FloatField(allow_null=True)


class TimeToEventSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    events = serializers.IntegerField()
    median = serializers.FloatField(allow_null=True, help_text="Months; null when not reached.")
    lower = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True)


class EndpointRowSerializer(serializers.Serializer):
    group = serializers.CharField()
    n = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Subjects by best overall response.")
    orr = RateSerializer(help_text="Objective response rate (CR + PR).")
    dcr = RateSerializer(help_text="Disease control rate.")
    dor = TimeToEventSerializer(allow_null=True)
    pfs = TimeToEventSerializer(allow_null=True)
    os = TimeToEventSerializer(allow_null=True)


class EfficacySubjectSerializer(serializers.Serializer):
    """One treated subject: by code for site staff, "Subject n" (enrolment order) for a sponsor; no dates."""

    label = serializers.CharField()
    group = serializers.SerializerMethodField()
    bor = serializers.CharField(source="bor.bor")
    best_change_pct = serializers.FloatField(source="best_pct", allow_null=True)
    responder = serializers.BooleanField()
    ongoing = serializers.BooleanField()
    unreviewed = serializers.IntegerField()

    def get_group(self, row) -> str:
        return row.groups[self.context["grouping"]]


class EfficacySerializer(serializers.Serializer):
    trial = serializers.CharField()
    deidentified = serializers.BooleanField(help_text="True for a sponsor: subjects labelled by enrolment order.")
    grouping = serializers.ChoiceField(choices=list(selectors.GROUPINGS.items()))
    table = EndpointRowSerializer(many=True)
    subjects = serializers.SerializerMethodField()
    unreviewed = serializers.IntegerField(help_text="Time points not yet reviewed by the investigators.")
    problems = serializers.IntegerField(help_text="Subjects left out of the time-to-event endpoints (facts that "
                                                  "cannot be: to be corrected).")

    @extend_schema_field(EfficacySubjectSerializer(many=True))
    def get_subjects(self, data) -> list:
        return EfficacySubjectSerializer(data["rows"], many=True, context={"grouping": data["grouping"]}).data


class EfficacyViewSet(viewsets.GenericViewSet):
    """A trial's efficacy endpoints (the efficacy page's tables): site staff and sponsors of the trial."""

    serializer_class = EfficacySerializer
    lookup_field = "code"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        from trials.models import Trial

        return Trial.objects.none()

    @extend_schema(parameters=[OpenApiParameter("by", OpenApiTypes.STR, enum=list(selectors.GROUPINGS),
                                                description="Grouping of the endpoint table (default: all).")],
                   responses={200: EfficacySerializer, **WRITE_ERRORS})
    def retrieve(self, request, code=None):
        trial = access_trial(request.user, code, roles=(Role.SPONSOR, *SITE_ROLES))
        grouping = request.query_params.get("by", "all")
        if grouping not in selectors.GROUPINGS:
            raise ValidationError({"by": f"Group by one of: {', '.join(selectors.GROUPINGS)}."})
        rows, deidentified = selectors.efficacy_subjects(request.user, trial)
        data = {"trial": trial.code, "deidentified": deidentified, "grouping": grouping, "rows": rows,
                "table": selectors.endpoint_table(rows, grouping), "unreviewed": sum(r.unreviewed for r in rows),
                "problems": sum(1 for r in rows if r.problem)}
        return Response(EfficacySerializer(data, context=self.get_serializer_context()).data)


def register(router) -> None:
    router.register("tumour-assessments", TumourAssessmentViewSet, basename="tumour-assessment")
    router.register("subject-responses", SubjectResponseViewSet, basename="subject-response")
    router.register("efficacy", EfficacyViewSet, basename="efficacy")
