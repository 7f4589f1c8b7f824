"""API: corrections and voids of any registered record kind (records.kinds and the other apps' kinds), with
the mandatory reason, and each record's history: the records mechanism itself (records.services,
records.selectors, the kind's correction form), so a change made here is checked, audited and flows on
exactly as one made on the correction page (docs/records.md, docs/api.md)."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, CheckedCharField, WriteRoles, may_identify
from records import selectors, services
from records.forms import correction_form
from records.registry import KINDS, kind_for
from trials.access import has_site_role
from trials.models import SITE_ROLES

# Fields that say who the subject is: left out of what a reader by subject code (data manager) sees.
IDENTITY_FIELDS = ("initials", "date_of_birth")


def _kind(slug: str):
    kind = kind_for(slug)
    if kind is None:
        raise Http404("No such kind of record")
    return kind


def _json(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    old = serializers.CharField(allow_blank=True)
    new = serializers.CharField(allow_blank=True)


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.ChoiceField(choices=[(a, a) for a in ("entered", "corrected", "voided", "changed", "deleted")])
    user = serializers.CharField(allow_blank=True)
    db_user = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    changes = FieldChangeSerializer(many=True)


class RecordSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.IntegerField()
    voided = serializers.BooleanField()
    values = serializers.DictField(
        help_text="The fields this kind's corrections may change, as they stand "
        "(identity null for a reader by subject code)."
    )
    history = HistoryEntrySerializer(many=True)


class CorrectionSerializer(serializers.Serializer):
    reason = CheckedCharField(
        multiline=True,
        max_length=services.REASON_MAX_LENGTH,
        help_text=f"Why (at least {services.REASON_MIN_LENGTH} characters); kept in the history.",
    )
    changes = serializers.DictField(
        help_text="Field -> new value, only the fields of the kind "
        "(GET /api/v1/record-kinds/); the others keep their values."
    )


class VoidSerializer(serializers.Serializer):
    reason = CheckedCharField(
        multiline=True,
        max_length=services.REASON_MAX_LENGTH,
        help_text=f"Why the entry was made in error (at least {services.REASON_MIN_LENGTH} characters).",
    )


def record_state(kind, record, context) -> dict:
    owner = kind.owner(record)
    identify = may_identify(context, owner)
    values = {
        name: (None if name in IDENTITY_FIELDS and not identify else _json(getattr(record, name)))
        for name in kind.fields
    }
    history = []
    for entry in selectors.record_history(record):
        changes = [c for c in entry.changes if identify or c.field not in IDENTITY_FIELDS]
        history.append(
            {
                "at": entry.at,
                "action": entry.action,
                "user": entry.user,
                "db_user": entry.db_user,
                "reason": entry.reason,
                "url": entry.url,
                "changes": [{"field": c.field, "label": c.label, "old": c.old, "new": c.new} for c in changes],
            }
        )
    return RecordSerializer(
        {
            "kind": kind.slug,
            "id": record.pk,
            "voided": getattr(record, "voided_at", None) is not None,
            "values": values,
            "history": history,
        }
    ).data


KIND_PARAMETER = OpenApiParameter(
    "kind",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=sorted(KINDS),
    description="A registered record kind (GET /api/v1/record-kinds/).",
)
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The record's id.")


class RecordViewSet(viewsets.GenericViewSet):
    """One record of a registered kind: its history (GET), a correction or a void (POST, with the reason) by
    the roles the kind names at the record's site."""

    permission_classes = [WriteRoles]
    serializer_class = RecordSerializer
    lookup_value_regex = "[0-9]+"
    lookup_url_kwarg = "id"
    write_roles = {"correct": SITE_ROLES, "void": SITE_ROLES}

    def _record(self, kind, pk: str):
        return selectors.readable_record(self.request.user, kind, int(pk))

    def _writable(self, kind, record, what: str):
        if not has_site_role(self.request.user, kind.owner(record), kind.roles):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied(f"Your role at this site does not allow {what} a {kind.label.lower()}.")

    @extend_schema(parameters=[KIND_PARAMETER, ID_PARAMETER], responses={200: RecordSerializer, **READ_ERRORS})
    @action(detail=True, methods=["get"])
    def history(self, request, kind=None, id=None):
        """The record's fields and every change to it (who, when, field from → to, reason)."""
        kind = _kind(kind)
        return Response(record_state(kind, self._record(kind, id), self.get_serializer_context()))

    @extend_schema(
        parameters=[KIND_PARAMETER, ID_PARAMETER],
        request=CorrectionSerializer,
        responses={200: RecordSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def correct(self, request, kind=None, id=None):
        """Correct the record with a reason: the kind's correction form checks each value (400 naming the
        field), then records.services.record_correct applies it and what follows it (re-planned visits,
        escalation re-read…), audited with the reason."""
        kind = _kind(kind)
        record = self._record(kind, id)
        self._writable(kind, record, "correcting")
        data = CorrectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes, reason = data.validated_data["changes"], data.validated_data["reason"]
        current = correction_form(kind, record, request.user)
        names = [name for name in current.fields if name != "reason"]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ValidationError(
                {
                    "changes": f"Not a field of a {kind.label.lower()} correction: {', '.join(unknown)} "
                    f"(the fields: {', '.join(names)})."
                }
            )
        form_data = {name: current[name].value() for name in names}
        form_data = {name: value for name, value in form_data.items() if value is not None}
        form_data.update(changes)
        form_data["reason"] = reason
        form = correction_form(kind, record, request.user, form_data)
        if not form.is_valid():
            raise ValidationError(
                {("non_field_errors" if name == "__all__" else name): errors for name, errors in form.errors.items()}
            )
        values = (
            kind.changes(form)
            if kind.changes is not None
            else {name: form.cleaned_data[name] for name in kind.fields if name in form.cleaned_data}
        )
        record = services.record_correct(
            kind=kind, record=record, user=request.user, changes=values, reason=form.cleaned_data["reason"]
        )
        return Response(record_state(kind, record, self.get_serializer_context()))

    @extend_schema(
        parameters=[KIND_PARAMETER, ID_PARAMETER],
        request=VoidSerializer,
        responses={200: RecordSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def void(self, request, kind=None, id=None):
        """Void the record (entered in error) with a reason: kept, struck through, counted nowhere. 404 for a
        kind that is corrected, never voided."""
        kind = _kind(kind)
        if not kind.voidable:
            raise Http404(f"A {kind.label.lower()} cannot be voided")
        record = self._record(kind, id)
        self._writable(kind, record, "voiding")
        data = VoidSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.record_void(kind=kind, record=record, user=request.user, reason=data.validated_data["reason"])
        return Response(record_state(kind, record, self.get_serializer_context()))


class RecordKindSerializer(serializers.Serializer):
    slug = serializers.CharField()
    label = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())
    roles = serializers.ListField(child=serializers.CharField(), help_text="Who corrects (and voids) it, at the site.")
    voidable = serializers.BooleanField()


class RecordKindViewSet(viewsets.ViewSet):
    """The registered record kinds: what a correction of each may change, who may make it, whether it voids."""

    permission_classes = [WriteRoles]
    serializer_class = RecordKindSerializer

    @extend_schema(responses={200: RecordKindSerializer(many=True), **READ_ERRORS})
    def list(self, request):
        kinds = [
            {
                "slug": k.slug,
                "label": k.label,
                "fields": list(k.fields),
                "roles": [str(r) for r in k.roles],
                "voidable": k.voidable,
            }
            for k in sorted(KINDS.values(), key=lambda k: k.slug)
        ]
        return Response(RecordKindSerializer(kinds, many=True).data)


def register(router) -> None:
    router.register("record-kinds", RecordKindViewSet, basename="record-kind")
    router.register(r"records/(?P<kind>[-a-z0-9]+)", RecordViewSet, basename="record")
