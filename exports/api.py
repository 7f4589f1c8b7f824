"""API: export jobs (list the user's own, request one, follow its progress) and their files (download).
The same rules as the page (exports.services): who may export what, only the requester downloads."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, ApiPagination
from exports import services
from exports.models import ExportJob
from trials.access import access_trial


class ExportJobSerializer(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ExportJob
        fields = ["id", "trial", "requested_by", "format", "deidentified", "status", "progress", "step",
                  "created_at", "started_at", "finished_at", "error", "file_name", "size", "sha256"]
        read_only_fields = fields


class ExportRequestSerializer(serializers.Serializer):
    trial = serializers.CharField(help_text="The trial's code.")
    format = serializers.ChoiceField(choices=ExportJob.Format.choices)
    deidentified = serializers.BooleanField(default=True)


@extend_schema_view(
    list=extend_schema(responses={200: ExportJobSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: ExportJobSerializer, **READ_ERRORS}),
    create=extend_schema(request=ExportRequestSerializer, responses={201: ExportJobSerializer, **WRITE_ERRORS}),
    download=extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(
        description="The export's file (zip or XML)."), **READ_ERRORS}),
)
class ExportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                       viewsets.GenericViewSet):
    """The user's export jobs; a new one is built in the background (poll ``progress`` and ``status``)."""

    queryset = ExportJob.objects.none()
    serializer_class = ExportJobSerializer
    permission_classes = [permissions.IsAuthenticated]
    pagination_class = ApiPagination

    def get_queryset(self):
        return ExportJob.objects.filter(requested_by=self.request.user).select_related("trial", "requested_by")

    def create(self, request, *args, **kwargs):
        given = ExportRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            trial = access_trial(request.user, given.validated_data["trial"])
        except Http404:
            raise ValidationError({"trial": "No such trial among yours."}) from None
        job = services.export_request(user=request.user, trial=trial, format=given.validated_data["format"],
                                      deidentified=given.validated_data["deidentified"])
        return Response(ExportJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        job = self.get_object()
        try:
            path = services.export_download(user=request.user, job=job)
        except ValidationError as exc:
            raise Http404(" ".join(exc.messages)) from None
        return FileResponse(path.open("rb"), as_attachment=True, filename=job.file_name)


def register(router) -> None:
    router.register("exports", ExportJobViewSet, basename="export-job")
