"""API: subjects (enrolment), screening records (and their writes), doses, pre-dose assessments, adverse events and the
DLT adjudication. Reads: the subjects of ``trials.access.readable_subjects`` (site staff and monitors at
their sites, data managers trial-wide by code: initials and date of birth null); a sponsor reads no subject
record (empty lists, 404). Writes go through ``subjects.services`` exactly as the pages do, by the same
roles; monitors, data managers and sponsors get 403 (docs/api.md)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import (
    READ_ERRORS,
    WRITE_ERRORS,
    ApiPagination,
    BlankChoicesMixin,
    CheckedCharField,
    IdentityMixin,
    WriteRoles,
    require_writer,
)
from screening import services as screening_services
from screening.forms import EligibilityValuesForm, staff_for
from screening.models import ScreeningRecord
from subjects import services
from subjects.models import (
    AdverseEvent,
    Assessment,
    ContinuationException,
    DoseAdministration,
    GateOverride,
    Subject,
)
from trials.access import access_trial, readable, readable_subjects, sites_for
from trials.models import SITE_ROLES, Role

SMALL_INT = 32767  # PositiveSmallIntegerField's upper bound


def subject_in_scope(user, pk) -> Subject:
    """The subject ``pk`` if the user may read it (readable_subjects); a 400 naming ``subject`` otherwise
    (a subject the user cannot read does not exist for the user)."""
    subject = readable_subjects(user).filter(pk=pk).first()
    if subject is None:
        raise ValidationError({"subject": f"No such subject: {pk}."})
    return subject


# --- subjects ---------------------------------------------------------------------------------------


class SubjectSerializer(IdentityMixin, BlankChoicesMixin, serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    initials = serializers.CharField(
        read_only=True, allow_null=True, help_text="Null for a reader who reads by subject code (data manager)."
    )
    date_of_birth = serializers.DateField(
        read_only=True, allow_null=True, help_text="Null for a reader who reads by subject code (data manager)."
    )

    class Meta:
        model = Subject
        fields = [
            "id",
            "code",
            "trial",
            "site",
            "cohort",
            "dose_level",
            "initials",
            "date_of_birth",
            "sex",
            "tumour_type",
            "status",
            "enrolled_at",
            "off_study_on",
            "off_study_reason",
            "off_study_detail",
            "end_of_treatment_reason",
            "end_of_treatment_detail",
        ]
        read_only_fields = fields


class EnrolSerializer(serializers.Serializer):
    trial = serializers.SlugField(help_text="The trial's code.")
    screening = serializers.IntegerField(min_value=1, help_text="An eligible screening record not yet enrolled.")
    cohort = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="The cohort the subject joins, when several are open."
    )


class SubjectFilter(filters.FilterSet):
    trial = filters.CharFilter(field_name="trial__code", help_text="A trial's code.")
    site = filters.CharFilter(field_name="site__code", help_text="A site's code.")
    status = filters.ChoiceFilter(choices=Subject.Status.choices)
    cohort = filters.NumberFilter(field_name="cohort_id", help_text="A cohort's id (trials/<code>/: cohorts).")
    code = filters.CharFilter(lookup_expr="icontains", help_text="Part of the subject code.")

    class Meta:
        model = Subject
        fields = ["trial", "site", "status", "cohort", "code"]


STATUS_ACTIONS = [("end_treatment", "End of treatment"), ("off_study", "Off study")]


class SubjectStatusSerializer(serializers.Serializer):
    """The status page's two forms (subjects:status): ``end_treatment`` (``last_dose``, ``reason``, ``detail``)
    or ``off_study`` (``off_study_on``, ``reason``, ``detail``)."""

    action = serializers.ChoiceField(choices=STATUS_ACTIONS, help_text="Which of the two is recorded.")
    last_dose = serializers.DateField(
        required=False, allow_null=True, help_text="end_treatment: the day of the last dose of any study drug."
    )
    off_study_on = serializers.DateField(
        required=False, allow_null=True, help_text="off_study: the day the subject went off study."
    )
    reason = serializers.CharField(
        max_length=40,
        help_text="end_treatment: one of the subject's `end_of_treatment_reason` values but off_study; "
        "off_study: one of its `off_study_reason` values.",
    )
    detail = CheckedCharField(
        required=False, allow_blank=True, default="", max_length=300, help_text="Required for “other”."
    )

    def validate(self, attrs):
        day = "last_dose" if attrs["action"] == "end_treatment" else "off_study_on"
        if attrs.get(day) is None:
            raise serializers.ValidationError({day: "This field is required."})
        return attrs


class GateOverrideSerializer(serializers.ModelSerializer):
    overridden_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GateOverride
        fields = ["id", "subject", "gate", "reason", "overridden_by", "created_at"]
        read_only_fields = fields


class GateOverrideCreateSerializer(serializers.Serializer):
    gate = serializers.ChoiceField(choices=GateOverride.Gate.choices)
    reason = CheckedCharField(
        multiline=True,
        min_length=GateOverride.REASON_MIN_LENGTH,
        max_length=2000,
        help_text="Why the first dose may be given before the gate opens.",
    )


class ContinuationSerializer(serializers.ModelSerializer):
    granted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ContinuationException
        fields = ["id", "subject", "reason", "granted_by", "created_at"]
        read_only_fields = fields


class ContinuationCreateSerializer(serializers.Serializer):
    reason = CheckedCharField(
        multiline=True, min_length=10, max_length=2000, help_text="Why treatment continues beyond the cycle maximum."
    )


@extend_schema_view(
    list=extend_schema(responses={200: SubjectSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: SubjectSerializer, **READ_ERRORS}),
    create=extend_schema(request=EnrolSerializer, responses={201: SubjectSerializer, **WRITE_ERRORS}),
)
class SubjectViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Subjects. Enrolment (POST): a coordinator enrols a candidate from an eligible screening record at one
    of the coordinator's sites into the open cohort, as on the enrolment page."""

    queryset = Subject.objects.none()  # the schema's model; the rows: get_queryset
    serializer_class = SubjectSerializer
    permission_classes = [WriteRoles]
    pagination_class = ApiPagination
    filterset_class = SubjectFilter
    write_roles = {
        "create": (Role.COORDINATOR,),
        "status": SITE_ROLES,
        "gate_override": (Role.INVESTIGATOR,),
        "continuation": (Role.INVESTIGATOR,),
    }

    def get_queryset(self):
        return readable_subjects(self.request.user).order_by("trial__code", "code")

    def _writable_subject(self, roles, message) -> Subject:
        """The subject of the URL (404 out of the user's scope) if the user holds one of ``roles`` at its site
        (403 otherwise), as on the subject's write pages (trials.access.access_subject)."""
        subject = self.get_object()
        require_writer(self.request.user, subject, roles, message)
        return subject

    @extend_schema(request=SubjectStatusSerializer, responses={200: SubjectSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """End of treatment or off study, with a reason from the list (site staff of the subject's site), as on
        the subject page: the visit plan, the follow-up and escalation follow."""
        subject = self._writable_subject(SITE_ROLES, "Only the site staff of the subject's site record this.")
        data = SubjectStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["action"] == "end_treatment":
            services.subject_end_treatment(subject=subject, user=request.user, last_dose=values["last_dose"],
                                           reason=values["reason"], detail=values["detail"])
        else:
            services.subject_off_study(subject=subject, user=request.user, off_study_on=values["off_study_on"],
                                       reason=values["reason"], detail=values["detail"])
        return Response(self.get_serializer(self.get_queryset().get(pk=subject.pk)).data)

    @extend_schema(request=GateOverrideCreateSerializer, responses={201: GateOverrideSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path="gate-override", url_name="gate-override")
    def gate_override(self, request, pk=None):
        """Override a timing gate for the subject's first dose, with a written reason (an investigator of the
        subject's site)."""
        subject = self._writable_subject(
            (Role.INVESTIGATOR,), "Only an investigator at the subject's site may override a timing gate."
        )
        data = GateOverrideCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        override = services.gate_override(subject=subject, user=request.user, **data.validated_data)
        return Response(GateOverrideSerializer(override).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ContinuationCreateSerializer, responses={201: ContinuationSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def continuation(self, request, pk=None):
        """The exception allowing treatment beyond the protocol's cycle maximum, with the reason (an
        investigator of the subject's site)."""
        subject = self._writable_subject(
            (Role.INVESTIGATOR,), "Only an investigator at the subject's site may allow continuation."
        )
        data = ContinuationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exception = services.continuation_grant(subject=subject, user=request.user, **data.validated_data)
        return Response(ContinuationSerializer(exception).data, status=status.HTTP_201_CREATED)

    def create(self, request, *args, **kwargs):
        data = EnrolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, values = request.user, data.validated_data
        try:
            trial = access_trial(user, values["trial"], roles=(Role.COORDINATOR,))
        except Http404:
            raise ValidationError({"trial": f"No such trial: {values['trial']}."}) from None
        screening = ScreeningRecord.objects.filter(
            trial=trial,
            site__in=sites_for(user, trial, roles=[Role.COORDINATOR]),
            status=ScreeningRecord.Status.ELIGIBLE,
            subject__isnull=True,
            pk=values["screening"],
        ).first()
        if screening is None:
            raise ValidationError({"screening": "Choose a screening record confirmed eligible and not yet enrolled."})
        cohort = None
        if values.get("cohort") is not None:
            cohort = services.open_cohorts(trial).filter(pk=values["cohort"]).first()
            if cohort is None:
                raise ValidationError({"cohort": "Choose one of the cohorts open for enrolment."})
        subject = services.subject_enrol(trial=trial, user=user, screening=screening, cohort=cohort)
        subject = readable_subjects(user).get(pk=subject.pk)
        return Response(self.get_serializer(subject).data, status=status.HTTP_201_CREATED)


# --- screening records --------------------------------------------------------------------------------


class ScreeningSerializer(IdentityMixin, serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    part = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    initials = serializers.CharField(
        read_only=True, allow_null=True, help_text="Null for a reader who reads by subject code (data manager)."
    )
    date_of_birth = serializers.DateField(
        read_only=True, allow_null=True, help_text="Null for a reader who reads by subject code (data manager)."
    )
    values = serializers.DictField(read_only=True)
    judgements = serializers.DictField(read_only=True)
    failure_reasons = serializers.ListField(read_only=True)
    consent_obtained_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ScreeningRecord
        fields = [
            "id",
            "number",
            "trial",
            "site",
            "part",
            "initials",
            "date_of_birth",
            "sex",
            "consent_form_version",
            "consent_date",
            "consent_obtained_by",
            "assessed_on",
            "values",
            "judgements",
            "status",
            "failure_reasons",
            "decided_by",
            "decided_at",
            "subject",
            "created_at",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields


class ScreeningStartSerializer(serializers.Serializer):
    trial = serializers.SlugField(help_text="The trial's code.")
    site = serializers.SlugField(help_text="The code of a site where you are a coordinator of the trial.")
    initials = serializers.RegexField(
        r"^[A-Za-z]{2,4}$",
        max_length=4,
        error_messages={"invalid": "Enter 2 to 4 letters, e.g. ABC."},
        help_text="2–4 letters. Site staff only: never returned to a data manager or a sponsor.",
    )
    date_of_birth = serializers.DateField(help_text="Site staff only, as the initials.")
    sex = serializers.ChoiceField(choices=[("F", "Female"), ("M", "Male")])
    consent_form_version = CheckedCharField(
        max_length=40, help_text="The ICF version signed, e.g. v2.1 of 12 Jan 2026."
    )
    consent_date = serializers.DateField(help_text="The day the consent was signed.")
    consent_obtained_by = CheckedCharField(
        max_length=150,
        required=False,
        help_text="The user name of the member of the site staff who obtained consent (default: you).",
    )
    confirm_unusual = serializers.BooleanField(default=False, help_text="Confirm an unusual date of birth.")
    unusual_reason = CheckedCharField(multiline=True, required=False, allow_blank=True, default="", max_length=500)


class ScreeningValuesSerializer(serializers.Serializer):
    assessed_on = serializers.DateField(help_text="The day of the screening assessments (after the consent).")
    values = serializers.DictField(
        help_text="The screening values the trial's criteria read, by input name (the eligibility of the protocol, "
        "trials/<code>/protocol/): numbers (a number or a decimal string) with `<name>_unit` where the input has "
        "several units (default: its first, SI), choices by value, several choices as a list, yes/no inputs as "
        "true/false. They replace the values stored, as the page's form does: a value left out is cleared."
    )
    confirm_unusual = serializers.BooleanField(default=False, help_text="Confirm an unusual value (weight).")
    unusual_reason = CheckedCharField(multiline=True, required=False, allow_blank=True, default="", max_length=500)


class ScreeningJudgementsSerializer(serializers.Serializer):
    judgements = serializers.DictField(
        child=serializers.BooleanField(allow_null=True),
        allow_empty=False,
        help_text="Judgement criterion code -> true (met), false (not met) or null (not yet decided); a criterion "
        "left out keeps its judgement. A judgement the protocol reserves for the investigator is changed by an "
        "investigator of the record's site only.",
    )


class ScreeningDecisionSerializer(serializers.Serializer):
    eligibility = serializers.ChoiceField(
        choices=[("eligible", "Confirm eligible"), ("screen_failed", "Record a screen failure")],
        help_text="eligible: every criterion met; screen_failed: the criteria not met (and `reason`) are recorded.",
    )
    reason = CheckedCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=300,
        help_text="A screen failure's other reason (required when no criterion is unmet).",
    )


def _service_errors(exc: ValidationError, group: str, names) -> dict:
    """A screening service's ValidationError as a 400 body: the errors of ``names`` (screening values,
    criterion codes) under ``group`` (``{"values": {"weight": [...]}}``), the others by field."""
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    body: dict = {}
    for name, errors in exc.error_dict.items():
        messages = [m for error in errors for m in error.messages]
        if name in names:
            body.setdefault(group, {})[name] = messages
        else:
            body["non_field_errors" if name == "__all__" else name] = messages
    return body


def screening_values_checked(criteria, trial, assessed_on, values: dict) -> dict:
    """The screening values as the page's form reads them (``EligibilityValuesForm``: each value's type,
    bounds, choices and unit); a 400 naming each refused value under ``values``."""
    from trialrules.eligibility import inputs_needed

    specs = {spec.name: spec for spec in inputs_needed(criteria)}
    names = set(specs) | {f"{name}_unit" for name, spec in specs.items() if len(spec.units) > 1}
    errors = {name: [f"Not a screening value of {trial.code}: one of {', '.join(sorted(names))}."]
              for name in sorted(set(values) - names)}
    data = {f"{name}_unit": spec.units[0] for name, spec in specs.items() if len(spec.units) > 1}
    for name, value in values.items():
        if name in specs and specs[name].kind == "bool" and value is not None:
            try:
                value = serializers.BooleanField().to_internal_value(value)
            except serializers.ValidationError as exc:
                errors[name] = list(exc.detail)
        data[name] = value
    if errors:
        raise serializers.ValidationError({"values": errors})
    form = EligibilityValuesForm({**data, "assessed_on": assessed_on}, criteria=criteria)
    if not form.is_valid():
        raise serializers.ValidationError(_service_errors(ValidationError(form.errors.as_data()), "values", names))
    return form.values()


class VoidFilterSet(filters.FilterSet):
    voided = filters.BooleanFilter(
        field_name="voided_at",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: only void entries; false: only the entries that count.",
    )


class ScreeningFilter(VoidFilterSet):
    trial = filters.CharFilter(field_name="trial__code", help_text="A trial's code.")
    site = filters.CharFilter(field_name="site__code", help_text="A site's code.")
    status = filters.ChoiceFilter(choices=ScreeningRecord.Status.choices)

    class Meta:
        model = ScreeningRecord
        fields = ["trial", "site", "status", "voided"]


@extend_schema_view(
    list=extend_schema(responses={200: ScreeningSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: ScreeningSerializer, **READ_ERRORS}),
    create=extend_schema(request=ScreeningStartSerializer, responses={201: ScreeningSerializer, **WRITE_ERRORS}),
    values=extend_schema(request=ScreeningValuesSerializer, responses={200: ScreeningSerializer, **WRITE_ERRORS}),
    judge=extend_schema(request=ScreeningJudgementsSerializer, responses={200: ScreeningSerializer, **WRITE_ERRORS}),
    decide=extend_schema(request=ScreeningDecisionSerializer, responses={200: ScreeningSerializer, **WRITE_ERRORS}),
)
class ScreeningViewSet(viewsets.ReadOnlyModelViewSet):
    """Screening records (void ones included, with their reason); identity null for a data manager. The
    screening pages' writes, through ``screening.services`` as the pages: a new candidate with consent (POST,
    a coordinator of the site), then by the site staff of the record's site its values, the judgements
    (those the protocol reserves: the investigator) and the decision, eligible or screen failure."""

    queryset = ScreeningRecord.objects.none()
    serializer_class = ScreeningSerializer
    permission_classes = [WriteRoles]
    pagination_class = ApiPagination
    filterset_class = ScreeningFilter
    write_roles = {"create": (Role.COORDINATOR,), "values": SITE_ROLES, "judge": SITE_ROLES, "decide": SITE_ROLES}

    def get_queryset(self):
        return (
            ScreeningRecord.all_objects.filter(readable(self.request.user))
            .select_related("trial", "site", "part", "consent_obtained_by", "decided_by")
            .order_by("trial__code", "number")
        )

    def _answer(self, record, status_code=status.HTTP_200_OK):
        return Response(self.get_serializer(self.get_queryset().get(pk=record.pk)).data, status=status_code)

    def create(self, request, *args, **kwargs):
        """A new candidate with the consent (the new-screening page): a coordinator, at one of its sites."""
        data = ScreeningStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, values = request.user, dict(data.validated_data)
        code = values.pop("trial")
        try:
            trial = access_trial(user, code, roles=(Role.COORDINATOR,))
        except Http404:
            raise ValidationError({"trial": f"No such trial: {code}."}) from None
        sites = sites_for(user, trial, roles=[Role.COORDINATOR])
        site = sites.filter(code=values.pop("site")).first()
        if site is None:
            raise ValidationError({"site": f"Choose a site where you are a coordinator of {trial.code}."})
        obtained_by = values.pop("consent_obtained_by", None)
        if obtained_by:
            staff = staff_for(trial, sites).filter(username=obtained_by).first()
            if staff is None:
                raise ValidationError({"consent_obtained_by": f"Not one of the {trial.code} staff of your sites: "
                                                              f"{obtained_by}."})
        else:
            staff = user
        record = screening_services.screening_start(
            trial=trial, site=site, user=user, consent_obtained_by=staff, **values
        )
        return self._answer(record, status.HTTP_201_CREATED)

    def _writable(self, request) -> ScreeningRecord:
        record = self.get_object()
        require_writer(request.user, record, SITE_ROLES, "Only the site staff of the record's site change it.")
        if record.voided_at is not None:
            raise ValidationError("This screening record is void: it is not changed.")
        return record

    @action(detail=True, methods=["post"])
    def values(self, request, pk=None):
        """The screening values and the day they were assessed (the record's values form)."""
        record = self._writable(request)
        data = ScreeningValuesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        criteria = screening_services.criteria_for(record.trial, record.part)
        values = screening_values_checked(criteria, record.trial, given["assessed_on"], given["values"])
        try:
            record = screening_services.screening_values_record(
                record=record,
                user=request.user,
                assessed_on=given["assessed_on"],
                values=values,
                confirm_unusual=given["confirm_unusual"],
                unusual_reason=given["unusual_reason"],
            )
        except ValidationError as exc:
            raise serializers.ValidationError(_service_errors(exc, "values", set(given["values"]))) from None
        return self._answer(record)

    @action(detail=True, methods=["post"])
    def judge(self, request, pk=None):
        """People's judgements of the judgement criteria (the record's judgements form)."""
        record = self._writable(request)
        data = ScreeningJudgementsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        judgements = data.validated_data["judgements"]
        codes = {c.code for c in screening_services.criteria_for(record.trial, record.part) if c.kind == "judgement"}
        unknown = sorted(set(judgements) - codes)
        if unknown:
            raise serializers.ValidationError({"judgements": {
                code: [f"Not a judgement criterion of {record.trial.code}: one of {', '.join(sorted(codes))}."]
                for code in unknown}})
        try:
            record = screening_services.screening_judge(record=record, user=request.user, judgements=judgements)
        except ValidationError as exc:
            raise serializers.ValidationError(_service_errors(exc, "judgements", codes)) from None
        return self._answer(record)

    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Confirm the candidate eligible (every criterion met) or record a screen failure."""
        record = self._writable(request)
        data = ScreeningDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["eligibility"] == "eligible":
            record = screening_services.screening_confirm_eligible(record=record, user=request.user)
        else:
            record = screening_services.screening_fail(
                record=record, user=request.user, reason=data.validated_data["reason"]
            )
        return self._answer(record)


# --- the subject's records ------------------------------------------------------------------------------


class SubjectRecordFilter(VoidFilterSet):
    trial = filters.CharFilter(field_name="subject__trial__code", help_text="A trial's code.")
    site = filters.CharFilter(field_name="subject__site__code", help_text="A site's code.")
    subject = filters.NumberFilter(field_name="subject_id", help_text="A subject's id.")


class SubjectRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A subject's records (void ones included): those of the subjects the user may read."""

    model = None
    permission_classes = [WriteRoles]
    pagination_class = ApiPagination
    create_serializer_class = None

    def get_queryset(self):
        return (
            self.model.all_objects.filter(subject__in=readable_subjects(self.request.user).values("pk"))
            .select_related("subject", "recorded_by")
            .order_by("subject__code", "pk")
        )

    def create(self, request, *args, **kwargs):
        data = self.create_serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        subject = subject_in_scope(request.user, values.pop("subject"))
        require_writer(request.user, subject, self.write_roles["create"])
        record = self.perform_write(subject, values)
        record = self.get_queryset().get(pk=record.pk)
        return Response(self.get_serializer(record).data, status=status.HTTP_201_CREATED)


class SubjectCodeMixin(serializers.Serializer):
    subject_code = serializers.CharField(source="subject.code", read_only=True)
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)


# doses


class DoseSerializer(SubjectCodeMixin, serializers.ModelSerializer):
    drug_name = serializers.CharField(source="drug.name", read_only=True)

    class Meta:
        model = DoseAdministration
        fields = [
            "id",
            "subject",
            "subject_code",
            "drug",
            "drug_name",
            "cycle",
            "day",
            "administered_at",
            "dose",
            "unit",
            "weight_kg",
            "planned_dose",
            "deviation_reason",
            "dispensing",
            "recorded_by",
            "recorded_at",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields


class DoseCreateSerializer(serializers.Serializer):
    subject = serializers.IntegerField(min_value=1)
    drug = serializers.IntegerField(min_value=1, help_text="A drug of the subject's regimen (trials/<code>/: drugs).")
    cycle = serializers.IntegerField(min_value=1, max_value=SMALL_INT)
    day = serializers.IntegerField(min_value=1, max_value=SMALL_INT, default=1)
    administered_at = serializers.DateTimeField()
    dose = serializers.DecimalField(
        max_digits=9,
        decimal_places=3,
        required=False,
        allow_null=True,
        help_text="Default: the planned dose (per kg: from the weight).",
    )
    weight_kg = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        required=False,
        allow_null=True,
        help_text="Per-kg drugs: the weight used (default: the latest recorded).",
    )
    deviation_reason = CheckedCharField(multiline=True, required=False, allow_blank=True, default="", max_length=2000)
    confirm_unusual = serializers.BooleanField(default=False, help_text="Confirm an unusual weight or dose.")
    unusual_reason = CheckedCharField(multiline=True, required=False, allow_blank=True, default="", max_length=500)


class DrugCycleFilter(SubjectRecordFilter):
    """A subject's records of one drug and cycle (doses, oral dispensing)."""

    drug = filters.CharFilter(field_name="drug__name", help_text="A drug's name.")
    cycle = filters.NumberFilter()


class DoseFilter(DrugCycleFilter):
    class Meta:
        model = DoseAdministration
        fields = ["trial", "site", "subject", "drug", "cycle", "voided"]


@extend_schema_view(
    list=extend_schema(responses={200: DoseSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: DoseSerializer, **READ_ERRORS}),
    create=extend_schema(request=DoseCreateSerializer, responses={201: DoseSerializer, **WRITE_ERRORS}),
)
class DoseViewSet(SubjectRecordViewSet):
    """Doses. Recording one (POST, a coordinator of the subject's site) checks what the dose page checks
    (regimen days, gates, windows, edit checks), re-plans the visits and re-evaluates escalation."""

    model = DoseAdministration
    queryset = DoseAdministration.objects.none()
    serializer_class = DoseSerializer
    create_serializer_class = DoseCreateSerializer
    filterset_class = DoseFilter
    write_roles = {"create": (Role.COORDINATOR,)}

    def get_queryset(self):
        return super().get_queryset().select_related("drug")

    def perform_write(self, subject, values):
        drug = subject.trial.drugs.filter(pk=values.pop("drug")).first()
        if drug is None:
            raise ValidationError({"drug": "This drug is not part of the subject's regimen."})
        return services.dose_record(subject=subject, drug=drug, user=self.request.user, **values)


# pre-dose assessments


class AssessmentSerializer(SubjectCodeMixin, serializers.ModelSerializer):
    # Not an enum in the schema: the same choices on the request's ``kind`` would need an ENUM_NAME_OVERRIDES entry.
    kind = serializers.CharField(read_only=True, help_text="vitals, labs or performance.")

    class Meta:
        model = Assessment
        fields = [
            "id",
            "subject",
            "subject_code",
            "kind",
            "assessed_on",
            "weight_kg",
            "ecog",
            "notes",
            "recorded_by",
            "recorded_at",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields


class AssessmentCreateSerializer(serializers.Serializer):
    subject = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=Assessment.Kind.choices)
    assessed_on = serializers.DateField()
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True, help_text="With the vital signs."
    )
    ecog = serializers.IntegerField(
        min_value=0, max_value=5, required=False, allow_null=True, help_text="With the performance status."
    )
    notes = CheckedCharField(max_length=300, required=False, allow_blank=True, default="")
    confirm_unusual = serializers.BooleanField(default=False, help_text="Confirm an unusual weight.")
    unusual_reason = CheckedCharField(multiline=True, required=False, allow_blank=True, default="", max_length=500)


class AssessmentFilter(SubjectRecordFilter):
    kind = filters.ChoiceFilter(choices=Assessment.Kind.choices)

    class Meta:
        model = Assessment
        fields = ["trial", "site", "subject", "kind", "voided"]


@extend_schema_view(
    list=extend_schema(responses={200: AssessmentSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: AssessmentSerializer, **READ_ERRORS}),
    create=extend_schema(request=AssessmentCreateSerializer, responses={201: AssessmentSerializer, **WRITE_ERRORS}),
)
class AssessmentViewSet(SubjectRecordViewSet):
    """Pre-dose assessments (vital signs with the weight, laboratory tests, ECOG); recorded (POST) by the site
    staff of the subject's site with the page's edit checks."""

    model = Assessment
    queryset = Assessment.objects.none()
    serializer_class = AssessmentSerializer
    create_serializer_class = AssessmentCreateSerializer
    filterset_class = AssessmentFilter
    write_roles = {"create": SITE_ROLES}

    def perform_write(self, subject, values):
        return services.assessment_record(subject=subject, user=self.request.user, **values)


# adverse events

ATTRIBUTION = [("", "Not yet assessed"), *AdverseEvent.Attribution.choices]


class AdverseEventSerializer(SubjectCodeMixin, BlankChoicesMixin, serializers.ModelSerializer):
    serious_criteria = serializers.ListField(child=serializers.CharField(), read_only=True)
    attributions = serializers.DictField(child=serializers.CharField(allow_blank=True), read_only=True)
    adjudicated_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            "subject",
            "subject_code",
            "term",
            "grade",
            "onset_date",
            "resolution_date",
            "serious",
            "serious_criteria",
            "attribution",
            "attributions",
            "immune_related",
            "action_taken",
            "outcome",
            "dlt_status",
            "is_dlt",
            "adjudicated_by",
            "adjudicated_at",
            "adjudication_comment",
            "recorded_by",
            "recorded_at",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields


class AdverseEventCreateSerializer(serializers.Serializer):
    subject = serializers.IntegerField(min_value=1)
    term = CheckedCharField(max_length=200, help_text="A CTCAE v5.0 term (any case).")
    grade = serializers.IntegerField(min_value=1, max_value=5)
    onset_date = serializers.DateField()
    resolution_date = serializers.DateField(required=False, allow_null=True)
    serious_criteria = serializers.ListField(
        child=serializers.ChoiceField(AdverseEvent.SeriousCriterion.choices),
        required=False,
        default=list,
        help_text="None: not serious.",
    )
    immune_related = serializers.BooleanField(default=False)
    action_taken = serializers.ChoiceField(
        choices=[("", "—"), *AdverseEvent.Action.choices], required=False, default=""
    )
    outcome = serializers.ChoiceField(choices=[("", "—"), *AdverseEvent.Outcome.choices], required=False, default="")
    attribution = serializers.ChoiceField(
        choices=AdverseEvent.Attribution.choices,
        required=False,
        help_text="The attribution to every drug of the regimen.",
    )
    attributions = serializers.DictField(
        child=serializers.ChoiceField(choices=ATTRIBUTION),
        required=False,
        help_text='Drug name -> attribution ("": not yet assessed), one per drug '
        "of the regimen; instead of `attribution`.",
    )


class AdjudicationSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("confirm", "Confirm: this is a DLT"), ("reject", "Reject: not a DLT")])
    comment = CheckedCharField(
        multiline=True,
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Required when rejecting.",
    )


class AdverseEventFilter(SubjectRecordFilter):
    grade = filters.NumberFilter(field_name="grade", lookup_expr="gte", help_text="Grade at least this.")
    serious = filters.BooleanFilter()
    dlt_status = filters.ChoiceFilter(choices=[(v, label) for v, label in AdverseEvent.DltStatus.choices if v])
    term = filters.CharFilter(lookup_expr="icontains", help_text="Part of the term.")

    class Meta:
        model = AdverseEvent
        fields = ["trial", "site", "subject", "grade", "serious", "dlt_status", "term", "voided"]


@extend_schema_view(
    list=extend_schema(responses={200: AdverseEventSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: AdverseEventSerializer, **READ_ERRORS}),
    create=extend_schema(request=AdverseEventCreateSerializer, responses={201: AdverseEventSerializer, **WRITE_ERRORS}),
    adjudicate=extend_schema(request=AdjudicationSerializer, responses={200: AdverseEventSerializer, **WRITE_ERRORS}),
)
class AdverseEventViewSet(SubjectRecordViewSet):
    """Adverse events against CTCAE v5.0 (POST: site staff of the subject's site; one meeting the DLT criteria
    is proposed as a DLT); the DLT adjudication by an investigator of the subject's site."""

    model = AdverseEvent
    queryset = AdverseEvent.objects.none()
    serializer_class = AdverseEventSerializer
    create_serializer_class = AdverseEventCreateSerializer
    filterset_class = AdverseEventFilter
    write_roles = {"create": SITE_ROLES, "adjudicate": (Role.INVESTIGATOR,)}

    def get_queryset(self):
        return super().get_queryset().select_related("adjudicated_by")

    def perform_write(self, subject, values):
        attributions = values.pop("attributions", None)
        if attributions is None and not values.get("attribution"):
            raise ValidationError(
                {"attribution": "Give the attribution to the study drug (or `attributions`, one per drug)."}
            )
        if attributions is not None:
            values.pop("attribution", None)
        return services.adverse_event_record(
            subject=subject, user=self.request.user, attributions=attributions, **values
        )

    @action(detail=True, methods=["post"], serializer_class=AdverseEventSerializer)
    def adjudicate(self, request, pk=None):
        """Confirm or reject the event as a DLT (an investigator of the subject's site; rejecting says why)."""
        event = self.get_object()
        require_writer(
            request.user,
            event.subject,
            (Role.INVESTIGATOR,),
            "Only an investigator at the subject's site adjudicates DLTs.",
        )
        data = AdjudicationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if event.voided_at is not None:
            raise ValidationError("This adverse event is void: it is not adjudicated.")
        services.dlt_adjudicate(
            event=event,
            user=request.user,
            confirm=data.validated_data["decision"] == "confirm",
            comment=data.validated_data["comment"],
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=event.pk)).data)


def register(router) -> None:
    router.register("subjects", SubjectViewSet, basename="subject")
    router.register("screening-records", ScreeningViewSet, basename="screening-record")
    router.register("doses", DoseViewSet, basename="dose")
    router.register("assessments", AssessmentViewSet, basename="assessment")
    router.register("adverse-events", AdverseEventViewSet, basename="adverse-event")
