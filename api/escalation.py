"""API: escalation decisions and their signing, signatures (read-only: append-only), RP2D declarations and
intra-patient escalations (docs/api.md, "Escalation, response and PK").

The same people see the same things as on the pages (escalation/views.py, rp2d_views.py,
intrapatient_views.py): a decision is read by anyone of its trial; a sponsor (``is_sponsor_only``) reads it
de-identified, as on the decision page: counts by level, the DLTs' terms, grades and study days, the
signatures without site staff's free text, never a subject code, a dose date or an invalidation reason that
names subjects. Every signature goes through the services (``decision_sign``, ``rp2d_declare``/``rp2d_sign``,
``intrapatient_request``/``intrapatient_sign``) with the signer's user name, password and one-time code
(``accounts.signing.verify_signer``): an API token alone never signs.
"""

from __future__ import annotations

import re

import django_filters
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.signing import CODE_NEEDED, SignerLocked
from api.common import READ_ERRORS, WRITE_ERRORS, ApiPagination, CheckedCharField, DetailSerializer
from escalation import intrapatient, rp2d, services
from escalation.models import EscalationDecision, IntraPatientEscalation, Rp2dDeclaration, Signature
from escalation.rp2d_views import VIEWERS as RP2D_VIEWERS
from escalation.selectors import decision_dlts, decision_levels, decision_subjects, escalation_evidence
from trials.access import access_decision, access_trial, is_sponsor_only, roles_in, subjects_for, trials_for
from trials.models import DoseLevel, Membership, Role

SPONSOR_INVALIDATED = ("The trial data changed after this decision was made; its signatures no longer cover the "
                       "data and a new decision is made from the current data.")
SIGN_ERRORS = {
    **WRITE_ERRORS,
    403: OpenApiResponse(DetailSerializer, description="Not signed in, the role cannot sign this now, or the "
                                                       "account is locked after too many failed credentials."),
}


# --------------------------------------------------------------------------------------------------
# Signing: the browser's credentials, through the services
# --------------------------------------------------------------------------------------------------


class CredentialsSerializer(serializers.Serializer):
    """Both components of an electronic signature (21 CFR 11.200(a)) at every signing, and the one-time code
    where the signer has enrolled one: the same fields as the signing forms (accounts.forms)."""

    username = serializers.CharField(max_length=150, help_text="Your own user name.")
    password = serializers.CharField(trim_whitespace=False, help_text="Your password.")
    otp_code = serializers.CharField(required=False, allow_blank=True, max_length=12, default="",
                                     help_text="The 6-digit code your authenticator app shows now (required when "
                                               "you have enrolled one).")

    def validate(self, attrs):
        from accounts.policy import has_totp

        attrs = super().validate(attrs)
        request = self.context.get("request")
        if request is not None and not (attrs.get("otp_code") or "").strip() and has_totp(request.user):
            raise serializers.ValidationError({"otp_code": [CODE_NEEDED]})
        return attrs

    def credentials(self) -> dict:
        data = self.validated_data
        return {"username": data["username"], "password": data["password"], "otp_code": data.get("otp_code", "")}


def signed_by(request, write):
    """Run ``write(request)`` (a service that checks the signer's credentials). The DRF request is passed, not
    the page's HttpRequest, so that a lockout is answered here with 403 (``SignerLocked``) instead of the
    lockout page; a session that typed the credentials that locked the account is signed out, as in the
    browser (an API token stays valid but cannot sign while the lock lasts)."""
    try:
        return write(request)
    except SignerLocked:
        if getattr(request, "auth", None) is None:  # session authentication (a token sets request.auth)
            logout(request._request)
        raise


def _errors_renamed(exc: ValidationError, rename) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({rename(key): errors for key, errors in exc.error_dict.items()})


# --------------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------------


class SignatureSerializer(serializers.Serializer):
    """One electronic signature as recorded (printed name, date and time, meaning, the data hash it is bound
    to). A sponsor reading a decision sees site staff's comments as ``null`` with ``comment_hidden``."""

    id = serializers.IntegerField(read_only=True)
    record = serializers.SerializerMethodField()
    decision = serializers.IntegerField(source="decision_id", allow_null=True)
    declaration = serializers.IntegerField(source="declaration_id", allow_null=True)
    agreement = serializers.IntegerField(source="agreement_id", allow_null=True)
    printed_name = serializers.CharField()
    role = serializers.CharField()
    meaning = serializers.ChoiceField(choices=Signature.Meaning.choices)
    meaning_display = serializers.CharField(source="get_meaning_display")
    comment = serializers.CharField(allow_null=True)
    comment_hidden = serializers.SerializerMethodField()
    signed_at = serializers.DateTimeField()
    data_sha256 = serializers.CharField()

    def get_record(self, signature) -> str:
        return "decision" if signature.decision_id else "declaration" if signature.declaration_id else "agreement"

    def _hidden(self, signature) -> bool:
        """The decision page's rule: a sponsor-only reader does not see site staff's comments on a decision."""
        if not signature.decision_id or signature.role == Role.SPONSOR or not signature.comment:
            return False
        request = self.context.get("request")
        cache = self.context.setdefault("_sponsor_view", {})
        trial_id = signature.decision.trial_id
        if trial_id not in cache:
            cache[trial_id] = is_sponsor_only(request.user, signature.decision.trial)
        return cache[trial_id]

    def get_comment_hidden(self, signature) -> bool:
        return self._hidden(signature)

    def to_representation(self, signature):
        data = super().to_representation(signature)
        if data["comment_hidden"]:
            data["comment"] = None
        return data


def visible_signatures(user):
    """Signatures of the records the user may read: decisions of the user's trials, RP2D declarations of the
    trials where the user reads the RP2D page, intra-patient agreements of the subjects those pages show."""
    rp2d_trials = Membership.objects.filter(user=user, role__in=RP2D_VIEWERS).values("trial")
    return Signature.objects.filter(
        Q(decision__trial__in=trials_for(user)) | Q(declaration__trial__in=rp2d_trials)
        | Q(agreement__subject__in=intrapatient.visible_subjects(user).values("pk"))
    ).select_related("decision__trial")


class SignatureFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(method="by_trial", label="Trial code")
    decision = django_filters.NumberFilter(field_name="decision_id")
    declaration = django_filters.NumberFilter(field_name="declaration_id")
    agreement = django_filters.NumberFilter(field_name="agreement_id")
    meaning = django_filters.ChoiceFilter(choices=Signature.Meaning.choices)

    class Meta:
        model = Signature
        fields = ["trial", "decision", "declaration", "agreement", "meaning"]

    def by_trial(self, queryset, name, value):
        return queryset.filter(Q(decision__trial__code=value) | Q(declaration__trial__code=value)
                               | Q(agreement__subject__trial__code=value))


@extend_schema_view(list=extend_schema(responses={200: SignatureSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: SignatureSerializer, **READ_ERRORS}))
class SignatureViewSet(viewsets.ReadOnlyModelViewSet):
    """Electronic signatures: read-only, as the database keeps them (append-only: no update, no delete)."""

    serializer_class = SignatureSerializer
    pagination_class = ApiPagination
    lookup_value_regex = r"\d+"
    filterset_class = SignatureFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Signature.objects.none()
        return visible_signatures(self.request.user).order_by("signed_at", "pk")


# --------------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------------


class LevelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()


class CohortRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    name = serializers.CharField()
    dose_level = serializers.CharField(source="dose_level.label")


class RecommendationSerializer(serializers.Serializer):
    continue_trial = serializers.BooleanField()
    summary = serializers.CharField()
    next_dose_level = LevelRefSerializer(allow_null=True)
    add_subjects = serializers.IntegerField()
    recommended_dose_level = LevelRefSerializer(allow_null=True)
    declared = serializers.CharField(help_text="MTD, MAD or empty.")
    rationale = serializers.CharField()
    outcomes = serializers.CharField(help_text="The outcome history in outcome-string notation (no subject).")


class DecidedSerializer(serializers.Serializer):
    """What the investigator decided when it differs from the recommendation."""

    summary = serializers.CharField(source="decided_summary")
    next_dose_level = LevelRefSerializer(source="decided_next_dose_level")
    add_subjects = serializers.IntegerField(source="decided_add_subjects")
    justification = serializers.CharField(allow_null=True, help_text="Site staff's free text: null for a sponsor.")


class DecisionLevelSerializer(serializers.Serializer):
    label = serializers.CharField()
    subjects = serializers.IntegerField()
    evaluable = serializers.IntegerField()
    dlts = serializers.IntegerField()
    tox2 = serializers.IntegerField(help_text="Drug-related grade ≥ 2 toxicities (G).")
    pending = serializers.IntegerField()
    not_evaluable = serializers.IntegerField()


class DecisionDltSerializer(serializers.Serializer):
    level = serializers.CharField()
    term = serializers.CharField(help_text="CTCAE v5.0 term.")
    grade = serializers.IntegerField()
    study_day = serializers.IntegerField(allow_null=True, help_text="Study day of onset (day 1: the first dose).")


class DecisionEventSerializer(serializers.Serializer):
    term = serializers.CharField()
    grade = serializers.IntegerField()
    dlt = serializers.BooleanField(allow_null=True)
    study_day = serializers.IntegerField(allow_null=True)


class DecisionSubjectSerializer(serializers.Serializer):
    """A subject of the decision's data: by code with the first dose at the reader's own sites; at another
    site by dose level and study days only (``subject`` null)."""

    subject = serializers.CharField(source="subject.code", allow_null=True, default=None)
    subject_id = serializers.IntegerField(source="subject.pk", allow_null=True, default=None)
    level = serializers.CharField()
    first_dose = serializers.DateTimeField(allow_null=True)
    window_closed = serializers.BooleanField()
    events = DecisionEventSerializer(many=True, help_text="Adverse events in the DLT window, with study days.")
    state = serializers.CharField(help_text="N, G, T, pending or not evaluable.")
    open = serializers.SerializerMethodField(help_text="Questions still open on this subject (own sites).")

    def get_open(self, row) -> int:
        return len(row.open)


class EvidenceSerializer(serializers.Serializer):
    levels = DecisionLevelSerializer(many=True)
    dlts = DecisionDltSerializer(many=True)
    subjects = DecisionSubjectSerializer(many=True, help_text="Empty for a sponsor: counts by level only.")
    open_count = serializers.IntegerField(help_text="Adverse events in a DLT window of the trial still awaiting "
                                                    "a judgement (counted, whoever reads).")


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trial = serializers.CharField(source="trial.code")
    cohort = CohortRefSerializer()
    created_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=EscalationDecision.Status.choices)
    status_display = serializers.CharField(source="get_status_display")
    recommendation = RecommendationSerializer(source="*")
    decided = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField(allow_null=True)
    invalidated_reason = serializers.SerializerMethodField()
    data_sha256 = serializers.CharField()
    deidentified = serializers.SerializerMethodField()
    can_sign = serializers.SerializerMethodField()
    sign_meanings = serializers.SerializerMethodField()

    evidence = serializers.SerializerMethodField(help_text="The data the recommendation was made on (in a single "
                                                           "decision's view; null in the list).")
    signatures = serializers.SerializerMethodField(help_text="In a single decision's view; null in the list.")

    def _view(self, decision) -> dict:
        """Per trial of the response: whether the reader is sponsor-only, and the reader's roles."""
        cache = self.context.setdefault("_decision_view", {})
        if decision.trial_id not in cache:
            user = self.context["request"].user
            cache[decision.trial_id] = {"sponsor_view": is_sponsor_only(user, decision.trial),
                                        "roles": roles_in(user, decision.trial)}
        return cache[decision.trial_id]

    @extend_schema_field(DecidedSerializer(allow_null=True))
    def get_decided(self, decision) -> dict | None:
        if not decision.overridden:
            return None
        data = DecidedSerializer(decision).data
        if self._view(decision)["sponsor_view"]:
            data["justification"] = None
        return data

    def get_invalidated_reason(self, decision) -> str:
        if decision.invalidated_reason and self._view(decision)["sponsor_view"]:
            return SPONSOR_INVALIDATED
        return decision.invalidated_reason

    def get_deidentified(self, decision) -> bool:
        return self._view(decision)["sponsor_view"]

    def get_sign_meanings(self, decision) -> list[str]:
        """The meanings the reader may sign with now (empty: the reader cannot sign this decision now)."""
        roles = self._view(decision)["roles"]
        if decision.status == EscalationDecision.Status.CONCURRENCE and Role.SPONSOR in roles:
            return [Signature.Meaning.CONCURRED.value, Signature.Meaning.DECLINED.value]
        if decision.status == EscalationDecision.Status.PENDING and Role.INVESTIGATOR in roles:
            return [Signature.Meaning.APPROVED.value, Signature.Meaning.REJECTED.value]
        return []

    def get_can_sign(self, decision) -> bool:
        return bool(self.get_sign_meanings(decision))


    @extend_schema_field(EvidenceSerializer(allow_null=True))
    def get_evidence(self, decision) -> dict | None:
        if not self.context.get("detail"):
            return None
        view = self._view(decision)
        user = self.context["request"].user
        subjects = [] if view["sponsor_view"] else decision_subjects(decision, subjects_for(user, decision.trial))
        open_items = escalation_evidence(decision.trial, now=timezone.now()).open_items
        return EvidenceSerializer({"levels": decision_levels(decision), "dlts": decision_dlts(decision),
                                   "subjects": subjects, "open_count": len(open_items)}).data

    @extend_schema_field(SignatureSerializer(many=True, allow_null=True))
    def get_signatures(self, decision) -> list | None:
        if not self.context.get("detail"):
            return None
        return SignatureSerializer(decision.signatures.select_related("decision__trial"), many=True,
                                   context=self.context).data

def meaning_field(*meanings) -> serializers.ChoiceField:
    """The signature meanings a signing endpoint accepts."""
    return serializers.ChoiceField(choices=[(m.value, m.label) for m in meanings])


class DecisionSignSerializer(CredentialsSerializer):
    """Sign a decision: an investigator approves (possibly deciding otherwise, justified) or rejects a pending
    decision; a sponsor, where the protocol asks for it, concurs or declines. Comments are required when not
    approving."""

    meaning = meaning_field(Signature.Meaning.APPROVED, Signature.Meaning.REJECTED, Signature.Meaning.CONCURRED,
                            Signature.Meaning.DECLINED)
    comment = CheckedCharField(multiline=True, required=False, allow_blank=True, default="")
    next_dose_level = serializers.PrimaryKeyRelatedField(
        queryset=DoseLevel.objects.all(), required=False, allow_null=True, default=None,
        help_text="Decide otherwise: the dose level (id) for the next subjects (investigators).")
    add_subjects = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                            max_value=12, help_text="Decide otherwise: how many subjects.")
    justification = CheckedCharField(multiline=True, required=False, allow_blank=True, default="",
                                     help_text="Required when the decision differs from the recommendation.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        decision = self.context.get("decision")
        if decision is not None:
            self.fields["next_dose_level"].queryset = decision.trial.dose_levels.all()

    def validate(self, attrs):
        allowed = self.context.get("meanings", [])
        if attrs.get("meaning") not in allowed:
            raise serializers.ValidationError({"meaning": [
                "Choose what your signature means: " + " or ".join(allowed) + "."]})
        if attrs["meaning"] in (Signature.Meaning.CONCURRED, Signature.Meaning.DECLINED):
            attrs.update(next_dose_level=None, add_subjects=None, justification="")  # not the sponsor's to decide
        return super().validate(attrs)


class SignResultSerializer(serializers.Serializer):
    signature = SignatureSerializer()
    status = serializers.CharField(help_text="The signed record's status after the signature.")


class DecisionFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="trial__code", label="Trial code")
    status = django_filters.ChoiceFilter(choices=EscalationDecision.Status.choices)
    cohort = django_filters.NumberFilter(field_name="cohort__number", label="Cohort number")

    class Meta:
        model = EscalationDecision
        fields = ["trial", "status", "cohort"]


@extend_schema_view(list=extend_schema(responses={200: DecisionSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: DecisionSerializer, **READ_ERRORS}))
class DecisionViewSet(viewsets.ReadOnlyModelViewSet):
    """Dose-escalation decisions of the user's trials, newest first (as on the decision page: a sponsor
    reads them de-identified)."""

    pagination_class = ApiPagination
    lookup_value_regex = r"\d+"
    filterset_class = DecisionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return EscalationDecision.objects.none()
        return (EscalationDecision.objects.filter(trial__in=trials_for(self.request.user))
                .select_related("trial", "cohort__dose_level", "next_dose_level", "recommended_dose_level",
                                "decided_next_dose_level").order_by("-created_at", "-pk"))

    def get_serializer_class(self):
        if self.action == "sign":
            return DecisionSignSerializer
        return DecisionSerializer

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "detail": self.action == "retrieve"}

    def get_object(self):
        decision = access_decision(self.request.user, self.kwargs["pk"])
        return self.get_queryset().get(pk=decision.pk)

    @extend_schema(request=DecisionSignSerializer, responses={201: SignResultSerializer, **SIGN_ERRORS})
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        """Sign with your user name, password and one-time code (as on the page), through
        ``escalation.services.decision_sign``. 400 names the refused field (``password``, ``otp_code``,
        ``comment``, ``justification``…), nothing signed; 403 when your role cannot sign it now, or when the
        account is locked."""
        decision = self.get_object()
        meanings = DecisionSerializer(context={"request": request}).get_sign_meanings(decision)
        if not meanings:
            raise PermissionDenied("Your role cannot sign this decision now.")
        form = DecisionSignSerializer(data=request.data, context={"request": request, "decision": decision,
                                                                  "meanings": meanings})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        signature = signed_by(request, lambda r: services.decision_sign(
            decision=decision, user=request.user, request=r, **form.credentials(), meaning=data["meaning"],
            comment=data["comment"], next_dose_level=data["next_dose_level"], add_subjects=data["add_subjects"],
            justification=data["justification"]))
        decision.refresh_from_db()
        body = {"signature": SignatureSerializer(signature, context={"request": request}).data,
                "status": decision.status}
        return Response(body, status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------------------------------
# RP2D declarations
# --------------------------------------------------------------------------------------------------


class Rp2dSafetySerializer(serializers.Serializer):
    level = serializers.CharField()
    treated = serializers.IntegerField()
    evaluable = serializers.IntegerField()
    dlts = serializers.IntegerField()
    related_grade3 = serializers.IntegerField()
    serious = serializers.IntegerField()


class Rp2dPkSerializer(serializers.Serializer):
    level = serializers.CharField()
    n = serializers.IntegerField()
    cmax = serializers.CharField(required=False, help_text="Geometric mean, formatted.")
    auclast = serializers.CharField(required=False)
    half_life = serializers.CharField(required=False)


class Rp2dResponseSerializer(serializers.Serializer):
    level = serializers.CharField()
    n = serializers.IntegerField()
    responders = serializers.IntegerField()
    disease_control = serializers.IntegerField()


class Rp2dDataSerializer(serializers.Serializer):
    """What the two signers saw and signed: aggregates by dose level only."""

    declared = serializers.CharField(help_text="MTD, MAD or none.")
    highest = serializers.CharField(allow_null=True)
    safety = Rp2dSafetySerializer(many=True)
    pk = Rp2dPkSerializer(many=True)
    response = Rp2dResponseSerializer(many=True)


class PlannedCohortSerializer(serializers.Serializer):
    part = serializers.CharField()
    label = serializers.CharField()
    dose_level = serializers.IntegerField()
    level = serializers.CharField()
    size = serializers.IntegerField()
    tumour_types = serializers.ListField(child=serializers.CharField())


class Rp2dDeclarationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trial = serializers.CharField(source="trial.code")
    status = serializers.ChoiceField(choices=Rp2dDeclaration.Status.choices)
    status_display = serializers.CharField(source="get_status_display")
    dose_level = LevelRefSerializer()
    stopping_decision = serializers.IntegerField(source="stopping_decision_id")
    rationale = serializers.CharField()
    planned_cohorts = PlannedCohortSerializer(many=True)
    data = Rp2dDataSerializer()
    data_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    invalidated_reason = serializers.CharField()
    signatures = SignatureSerializer(many=True)
    can_sign = serializers.SerializerMethodField(help_text="Whether this declaration waits for your signature.")

    def get_can_sign(self, record) -> bool:
        return _rp2d_can_sign(self.context["request"].user, record)


def _rp2d_can_sign(user, record) -> bool:
    """The RP2D page's rule: the other of sponsor and principal investigator, on a pending declaration."""
    role = rp2d.signer_role(user, record.trial)
    return bool(role and record.status == Rp2dDeclaration.Status.PENDING
                and all(s.role != role and s.signer_id != user.pk for s in record.signatures.all()))


class Rp2dCohortInputSerializer(serializers.Serializer):
    part = serializers.CharField(max_length=40, help_text="The part's code (a part whose cohorts are chosen now).")
    dose_level = serializers.IntegerField(help_text="Dose level id, at or below the MTD/MAD.")
    size = serializers.IntegerField(min_value=1, max_value=200)
    tumour_types = serializers.ListField(child=CheckedCharField(max_length=100), required=False, default=list)


class Rp2dDeclareSerializer(CredentialsSerializer):
    """Propose the RP2D, signed (the first of the sponsor's and the principal investigator's signatures), with
    the cohorts of the later parts whose doses are chosen now."""

    trial = serializers.CharField(max_length=40, help_text="Trial code.")
    dose_level = serializers.IntegerField(help_text="Dose level id, at or below the MTD/MAD.")
    rationale = CheckedCharField(multiline=True, help_text="At least 20 characters.")
    cohorts = Rp2dCohortInputSerializer(many=True, required=False, default=list)


# A signature that approves or objects (the RP2D, an intra-patient escalation): the credentials, a meaning,
# a comment when objecting. (No docstring: the schema describes it as its credentials.)
class AgreementSignSerializer(CredentialsSerializer):
    comment = CheckedCharField(multiline=True, required=False, allow_blank=True, default="",
                               help_text="Required when you do not approve.")


class Rp2dSignSerializer(AgreementSignSerializer):
    meaning = meaning_field(Signature.Meaning.DECLARED, Signature.Meaning.OBJECTED)


class Rp2dFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="trial__code", label="Trial code")
    status = django_filters.ChoiceFilter(choices=Rp2dDeclaration.Status.choices)

    class Meta:
        model = Rp2dDeclaration
        fields = ["trial", "status"]


def _level_of(trial, pk, field: str) -> DoseLevel:
    level = trial.dose_levels.filter(pk=pk).first()
    if level is None:
        raise ValidationError({field: "Choose a dose level of this trial."})
    return level


def _rp2d_field(key: str) -> str:
    """A service error key in the API's terms (``cohorts[2].level`` → ``cohorts[2].dose_level``)."""
    return re.sub(r"^(cohorts\[\d+\])\.level$", r"\1.dose_level", key)


@extend_schema_view(list=extend_schema(responses={200: Rp2dDeclarationSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: Rp2dDeclarationSerializer, **READ_ERRORS}))
class Rp2dDeclarationViewSet(viewsets.ReadOnlyModelViewSet):
    """RP2D declarations (aggregates by level, no subject identifiers): read by everyone of the trial but the
    administrator, the monitor and the data manager (as the RP2D page); proposed and co-signed by the sponsor
    and the principal investigator."""

    pagination_class = ApiPagination
    lookup_value_regex = r"\d+"
    filterset_class = Rp2dFilter
    serializer_class = Rp2dDeclarationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Rp2dDeclaration.objects.none()
        trials = Membership.objects.filter(user=self.request.user, role__in=RP2D_VIEWERS).values("trial")
        return (Rp2dDeclaration.objects.filter(trial__in=trials)
                .select_related("trial", "dose_level").prefetch_related("signatures").order_by("-created_at", "-pk"))

    def get_serializer_class(self):
        return {"create": Rp2dDeclareSerializer, "sign": Rp2dSignSerializer}.get(self.action, self.serializer_class)

    def get_object(self):
        try:
            record = Rp2dDeclaration.objects.select_related("trial").get(
                pk=self.kwargs["pk"], trial__in=trials_for(self.request.user))
        except (Rp2dDeclaration.DoesNotExist, ValueError):
            raise Http404("No such RP2D declaration") from None
        access_trial(self.request.user, record.trial.code, roles=RP2D_VIEWERS)  # 403 as the page
        return self.get_queryset().get(pk=record.pk)

    def _detail(self, record, code=status.HTTP_200_OK):
        record = self.get_queryset().get(pk=record.pk)
        return Response(Rp2dDeclarationSerializer(record, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=Rp2dDeclareSerializer, responses={201: Rp2dDeclarationSerializer, **SIGN_ERRORS})
    def create(self, request):
        """Propose the RP2D with your signature (``escalation.rp2d.rp2d_declare``): the sponsor or the
        principal investigator, once the signed decision that stops escalation is in."""
        form = Rp2dDeclareSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        trial = access_trial(request.user, data["trial"], roles=RP2D_VIEWERS)
        if rp2d.signer_role(request.user, trial) is None:
            raise PermissionDenied("Only the sponsor or the principal investigator of this trial declares the RP2D.")
        level = _level_of(trial, data["dose_level"], "dose_level")
        cohorts = [{"part": c["part"], "dose_level": _level_of(trial, c["dose_level"], f"cohorts[{i}].dose_level"),
                    "size": c["size"], "tumour_types": c["tumour_types"]} for i, c in enumerate(data["cohorts"], 1)]
        try:
            record = signed_by(request, lambda r: rp2d.rp2d_declare(
                trial=trial, user=request.user, request=r, **form.credentials(), dose_level=level,
                rationale=data["rationale"], cohorts=cohorts))
        except ValidationError as exc:
            raise _errors_renamed(exc, _rp2d_field) from None
        return self._detail(record, status.HTTP_201_CREATED)

    @extend_schema(request=Rp2dSignSerializer, responses={201: SignResultSerializer, **SIGN_ERRORS})
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        """The second signature (``escalation.rp2d.rp2d_sign``): approve (the later parts open) or object with a
        comment."""
        record = self.get_object()
        if not _rp2d_can_sign(request.user, record):
            raise PermissionDenied("Your signature is not the one this declaration waits for.")
        form = Rp2dSignSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        signature = signed_by(request, lambda r: rp2d.rp2d_sign(
            declaration=record, user=request.user, request=r, **form.credentials(),
            meaning=form.validated_data["meaning"], comment=form.validated_data["comment"]))
        record.refresh_from_db()
        return Response({"signature": SignatureSerializer(signature, context={"request": request}).data,
                         "status": record.status}, status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------------------------------
# Intra-patient escalations
# --------------------------------------------------------------------------------------------------


class CheckSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="cycles, level or agreement.")
    label = serializers.CharField()
    met = serializers.BooleanField()
    detail = serializers.CharField()


class IntraPatientSerializer(serializers.Serializer):
    """An intra-patient escalation: the subject by its code only (these records are read by the sponsor)."""

    id = serializers.IntegerField()
    trial = serializers.CharField(source="subject.trial.code")
    subject = serializers.CharField(source="subject.code")
    subject_id = serializers.IntegerField()
    from_level = LevelRefSerializer()
    to_level = LevelRefSerializer()
    from_cycle = serializers.IntegerField()
    rationale = serializers.CharField()
    status = serializers.ChoiceField(choices=IntraPatientEscalation.Status.choices)
    status_display = serializers.CharField(source="get_status_display")
    checks = serializers.SerializerMethodField()
    awaiting = serializers.SerializerMethodField(help_text="Who signs next: sponsor or investigator.")
    data_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    invalidated_reason = serializers.CharField()
    signatures = SignatureSerializer(many=True)
    can_sign = serializers.SerializerMethodField()

    @extend_schema_field(CheckSerializer(many=True))
    def get_checks(self, agreement) -> list:
        recorded = [intrapatient.Check(**c) for c in agreement.data.get("checks", [])]
        return CheckSerializer([*recorded, intrapatient._agreement_check(agreement)], many=True).data

    def get_awaiting(self, agreement) -> str | None:
        if agreement.status != IntraPatientEscalation.Status.PENDING:
            return None
        return intrapatient.other_party(agreement)

    def get_can_sign(self, agreement) -> bool:
        return intrapatient.can_sign(self.context["request"].user, agreement)


class IntraPatientRequestSerializer(CredentialsSerializer):
    subject = serializers.IntegerField(help_text="Subject id.")
    to_level = serializers.IntegerField(help_text="Dose level id, above the subject's current level.")
    rationale = CheckedCharField(multiline=True, help_text="At least 10 characters; the sponsor reads it: no "
                                                           "initials, dates of birth or other identifying details.")


class IntraPatientSignSerializer(AgreementSignSerializer):
    meaning = meaning_field(Signature.Meaning.AGREED, Signature.Meaning.OBJECTED)


class IntraPatientFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="subject__trial__code", label="Trial code")
    subject = django_filters.NumberFilter(field_name="subject_id", label="Subject id")
    status = django_filters.ChoiceFilter(choices=IntraPatientEscalation.Status.choices)

    class Meta:
        model = IntraPatientEscalation
        fields = ["trial", "subject", "status"]


@extend_schema_view(list=extend_schema(responses={200: IntraPatientSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: IntraPatientSerializer, **READ_ERRORS}))
class IntraPatientViewSet(viewsets.ReadOnlyModelViewSet):
    """Intra-patient dose escalations of the subjects the pages show: at the sites where the user is site staff,
    and every subject of the trials where the user is a sponsor (by code)."""

    pagination_class = ApiPagination
    lookup_value_regex = r"\d+"
    filterset_class = IntraPatientFilter
    serializer_class = IntraPatientSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return IntraPatientEscalation.objects.none()
        visible = intrapatient.visible_subjects(self.request.user).values("pk")
        return (IntraPatientEscalation.objects.filter(subject__in=visible)
                .select_related("subject__trial", "subject__site", "from_level", "to_level")
                .prefetch_related("signatures").order_by("-created_at", "-pk"))

    def get_serializer_class(self):
        return {"create": IntraPatientRequestSerializer, "sign": IntraPatientSignSerializer}.get(
            self.action, self.serializer_class)

    def _detail(self, agreement, code=status.HTTP_200_OK):
        agreement = self.get_queryset().get(pk=agreement.pk)
        return Response(IntraPatientSerializer(agreement, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=IntraPatientRequestSerializer, responses={201: IntraPatientSerializer, **SIGN_ERRORS})
    def create(self, request):
        """Ask for a subject's move to a higher level, signed (``escalation.intrapatient.intrapatient_request``):
        an investigator of the subject's site or a sponsor of the trial."""
        form = IntraPatientRequestSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        subject = intrapatient.visible_subjects(request.user).filter(pk=data["subject"]).first()
        if subject is None:
            raise ValidationError({"subject": "No such subject among those you may see."})
        if intrapatient.party_of(request.user, subject) is None:
            raise PermissionDenied("Only an investigator of the subject's site or a sponsor of the trial can ask for "
                                   "an intra-patient dose escalation.")
        to_level = _level_of(subject.trial, data["to_level"], "to_level")
        agreement = signed_by(request, lambda r: intrapatient.intrapatient_request(
            subject=subject, user=request.user, request=r, **form.credentials(), to_level=to_level,
            rationale=data["rationale"]))
        return self._detail(agreement, status.HTTP_201_CREATED)

    @extend_schema(request=IntraPatientSignSerializer, responses={201: SignResultSerializer, **SIGN_ERRORS})
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        """The other party's signature (``escalation.intrapatient.intrapatient_sign``): agree, or object with a
        comment."""
        agreement = self.get_object()
        if not intrapatient.can_sign(request.user, agreement):
            raise PermissionDenied("Your role cannot sign this intra-patient escalation now.")
        form = IntraPatientSignSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        signature = signed_by(request, lambda r: intrapatient.intrapatient_sign(
            agreement=agreement, user=request.user, request=r, **form.credentials(),
            meaning=form.validated_data["meaning"], comment=form.validated_data["comment"]))
        agreement.refresh_from_db()
        return Response({"signature": SignatureSerializer(signature, context={"request": request}).data,
                         "status": agreement.status}, status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("decisions", DecisionViewSet, basename="decision")
    router.register("signatures", SignatureViewSet, basename="signature")
    router.register("rp2d-declarations", Rp2dDeclarationViewSet, basename="rp2d-declaration")
    router.register("intrapatient-escalations", IntraPatientViewSet, basename="intrapatient-escalation")
