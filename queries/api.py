"""API: data queries and their threads (docs/data-management.md). The same services and the same access as
the pages: a user lists the queries of the records they read (trials.access.readable), raises one on a
record they read (records.selectors.readable_record) when their role raises queries, answers at their
site, closes and re-opens as a raiser role."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, ApiPagination, CheckedCharField, may_identify
from queries import selectors, services
from queries.models import Query, QueryMessage
from records.registry import kind_choices, kind_for
from records.selectors import readable_record


def _hidden(context, query) -> bool:
    return query.field in selectors.IDENTITY_FIELDS and not may_identify(context, query)


class QueryMessageSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                        help_text="Null for a step the application made (an edit check).")

    class Meta:
        model = QueryMessage
        fields = ["id", "action", "text", "user", "at", "change"]


class QuerySerializer(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    subject = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    raised_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                             help_text="Null for a query an edit check raised.")
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    messages = QueryMessageSerializer(many=True, read_only=True)

    class Meta:
        model = Query
        fields = ["id", "trial", "site", "subject", "kind", "object_id", "field", "text", "status", "origin",
                  "check_code", "value_at_raise", "raised_by", "raised_at", "answered_at", "closed_at", "closed_by",
                  "messages"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if _hidden(self.context, instance):  # a data manager reads by code: no identifying value
            data["value_at_raise"] = None
            for message in data["messages"]:
                message["change"] = {"hidden": "identifying data"} if message["change"] else {}
        return data


class RaiseSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=kind_choices())
    object_id = serializers.IntegerField(min_value=1)
    field = serializers.CharField(allow_blank=True, default="", max_length=60)
    text = CheckedCharField(multiline=True, max_length=services.TEXT_MAX_LENGTH)


class StepSerializer(serializers.Serializer):
    text = CheckedCharField(multiline=True, allow_blank=True, default="",
                            max_length=services.TEXT_MAX_LENGTH)


class QueryFilter(django_filters.FilterSet):
    trial = django_filters.CharFilter(field_name="trial__code")
    site = django_filters.CharFilter(field_name="site__code")
    subject = django_filters.CharFilter(field_name="subject__code")
    status = django_filters.ChoiceFilter(choices=Query.Status.choices)
    kind = django_filters.CharFilter()
    origin = django_filters.ChoiceFilter(choices=Query.Origin.choices)

    class Meta:
        model = Query
        fields = ["trial", "site", "subject", "status", "kind", "origin"]


class QueryViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Data queries: list (filter by trial, site, subject, status, kind, origin), read one with its thread,
    raise (POST), and the steps answer, close, re-open (POST .../answer/ etc. with ``text``)."""

    serializer_class = QuerySerializer
    pagination_class = ApiPagination
    filterset_class = QueryFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Query.objects.none()
        return selectors.readable_queries(self.request.user).prefetch_related("messages__user")

    @extend_schema(request=RaiseSerializer, responses={201: QuerySerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        data = RaiseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind = kind_for(data.validated_data["kind"])
        record = readable_record(request.user, kind, data.validated_data["object_id"])
        query = services.query_raise(user=request.user, kind=kind, record=record,
                                     field=data.validated_data["field"], text=data.validated_data["text"])
        return Response(self._out(query), status=status.HTTP_201_CREATED)

    def _out(self, query):
        return QuerySerializer(self.get_queryset().get(pk=query.pk), context=self.get_serializer_context()).data

    def _step(self, request, step):
        query = self.get_object()
        data = StepSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        step(user=request.user, query=query, text=data.validated_data["text"])
        return Response(self._out(query))

    @extend_schema(request=StepSerializer, responses={200: QuerySerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        return self._step(request, services.query_answer)

    @extend_schema(request=StepSerializer, responses={200: QuerySerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        return self._step(request, services.query_close)

    @extend_schema(request=StepSerializer, responses={200: QuerySerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._step(request, services.query_reopen)

    @extend_schema(responses={200: QuerySerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: QuerySerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


def register(router) -> None:
    router.register("queries", QueryViewSet, basename="query")
