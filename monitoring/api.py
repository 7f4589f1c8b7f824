"""API: source-data verification (docs/data-management.md). The same services and the same access as the
pages: a user lists the verifications of the records they read (trials.access.readable); the monitor of a
record's site verifies a field or the whole form (POST) and withdraws a standing verification with a
reason; the SDV status of one record, field by field, as the subject's SDV page shows it."""

from __future__ import annotations

import dataclasses

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, ApiPagination, CheckedCharField, may_identify
from monitoring import selectors, services
from monitoring.models import SourceVerification
from queries.selectors import IDENTITY_FIELDS
from records.registry import kind_choices, kind_for
from records.selectors import readable_record
from records.services import REASON_MAX_LENGTH, REASON_MIN_LENGTH
from trials.access import readable

HIDDEN = "(identifying data)"


def _identifies(context, verification) -> bool:
    """Whether the reader may see the verified values of identifying fields (site staff and the monitor of
    the site; a data manager reads by code)."""
    return may_identify(context, verification)


def _hide_reason(mark):
    return dataclasses.replace(mark, reason=HIDDEN) if mark.reason else mark


class VerificationSerializer(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    subject = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    verified_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    standing = serializers.BooleanField(read_only=True)
    values = serializers.DictField(child=serializers.CharField(allow_blank=True), read_only=True,
                                   help_text="The verified values, field name -> value as text.")

    class Meta:
        model = SourceVerification
        fields = ["id", "trial", "site", "subject", "kind", "object_id", "field", "values", "verified_by",
                  "verified_at", "standing", "cleared_at", "cleared_reason"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not _identifies(self.context, instance):
            data["values"] = {name: (HIDDEN if name in IDENTITY_FIELDS else value)
                              for name, value in data["values"].items()}
            if any(name in IDENTITY_FIELDS for name in instance.values):
                data["cleared_reason"] = HIDDEN if data["cleared_reason"] else ""
        return data


class VerifySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=kind_choices())
    object_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    field = serializers.CharField(allow_blank=True, default="", max_length=60,
                                  help_text="The field to verify; empty for the whole form.")


class WithdrawSerializer(serializers.Serializer):
    reason = CheckedCharField(min_length=REASON_MIN_LENGTH, max_length=REASON_MAX_LENGTH)


class MarkSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=[selectors.VERIFIED, selectors.NOT_VERIFIED, selectors.CLEARED,
                                             selectors.CHANGED])
    by = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    via_form = serializers.BooleanField()
    verification = serializers.IntegerField(allow_null=True, source="verification.pk", default=None)


class FieldStatusSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    value = serializers.CharField(allow_blank=True)
    mark = MarkSerializer()


class RecordStatusSerializer(serializers.Serializer):
    kind = serializers.CharField()
    object_id = serializers.IntegerField()
    form = MarkSerializer()
    fields = FieldStatusSerializer(many=True)


class VerificationFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="trial__code")
    site = django_filters.CharFilter(field_name="site__code")
    subject = django_filters.CharFilter(field_name="subject__code")
    kind = django_filters.CharFilter()
    object_id = django_filters.NumberFilter(min_value=1, max_value=2**63 - 1)
    standing = django_filters.BooleanFilter(field_name="cleared_at", lookup_expr="isnull")

    class Meta:
        model = SourceVerification
        fields = ["trial", "site", "subject", "kind", "object_id", "standing"]


class VerificationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Source-data verifications: list (filter by trial, site, subject, kind, object_id, standing), read one,
    verify a field or a form (POST; the monitor of the record's site), withdraw a standing one with a
    reason, and the SDV status of one record (``status/?kind=&object_id=``)."""

    serializer_class = VerificationSerializer
    pagination_class = ApiPagination
    filterset_class = VerificationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return SourceVerification.objects.none()
        return (SourceVerification.objects.filter(readable(self.request.user))
                .select_related("trial", "site", "subject", "verified_by"))

    def _out(self, verification, code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=verification.pk)
        return Response(VerificationSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=VerifySerializer, responses={201: VerificationSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        data = VerifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind = kind_for(data.validated_data["kind"])
        record = readable_record(request.user, kind, data.validated_data["object_id"])
        verification = services.verify(user=request.user, kind=kind, record=record,
                                       field=data.validated_data["field"])
        return self._out(verification, status.HTTP_201_CREATED)

    @extend_schema(request=WithdrawSerializer, responses={200: VerificationSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        verification = self.get_object()
        data = WithdrawSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.withdraw(user=request.user, verification=verification, reason=data.validated_data["reason"])
        return self._out(verification)

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, required=True, enum=kind_choices()),
                    OpenApiParameter("object_id", int, required=True)],
        responses={200: RecordStatusSerializer, 400: WRITE_ERRORS[400], **READ_ERRORS})
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def status(self, request):
        given = VerifySerializer(data={"kind": request.query_params.get("kind", ""),
                                       "object_id": request.query_params.get("object_id", "")})
        given.is_valid(raise_exception=True)
        kind = kind_for(given.validated_data["kind"])
        record = readable_record(request.user, kind, given.validated_data["object_id"])
        verifications = selectors.verifications_of(record)
        rows = selectors.field_rows(kind, record, verifications)
        form = selectors.form_mark(kind, record, verifications)
        if IDENTITY_FIELDS & set(kind.fields) and not may_identify(self.get_serializer_context(), kind.owner(record)):
            # A data manager reads by code: neither the identifying values nor a change naming them.
            for row in rows:
                if row.name in IDENTITY_FIELDS:
                    row.value = HIDDEN
                    row.mark = _hide_reason(row.mark)
            form = _hide_reason(form)
        return Response(RecordStatusSerializer({"kind": kind.slug, "object_id": record.pk, "form": form,
                                                "fields": rows}).data)

    @extend_schema(responses={200: VerificationSerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: VerificationSerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


def register(router) -> None:
    router.register("verifications", VerificationViewSet, basename="verification")
