"""API: planned visits (recording one done or missed through visits.services, as the visit page) and the
subjects' follow-up anchors (recorded once through ``visits.services.follow_up_set``, as the follow-up page;
changed afterwards as corrections through records/). Same read scope as the subject records (api.subjects)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
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
    WriteRoles,
    require_writer,
)
from subjects.models import Subject
from trials.access import readable_subjects
from trials.models import SITE_ROLES, Role
from visits import services
from visits.models import FollowUp, PlannedVisit


class VisitSerializer(serializers.ModelSerializer):
    subject_code = serializers.CharField(source="subject.code", read_only=True)
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PlannedVisit
        fields = ["id", "subject", "subject_code", "code", "kind", "target", "window_start", "window_end", "status",
                  "done_on", "missed_reason", "overdue", "deviation", "deviation_days", "recorded_by", "recorded_at"]
        read_only_fields = fields


class VisitRecordSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[("done", "Done"), ("missed", "Missed")])
    done_on = serializers.DateField(required=False, allow_null=True, help_text="With `done`: the date it took place.")
    missed_reason = CheckedCharField(required=False, allow_blank=True, default="", max_length=200,
                                     help_text=f"With `missed`: why (at least {services.MISSED_REASON_MIN_LENGTH} "
                                               "characters).")


class VisitFilter(filters.FilterSet):
    trial = filters.CharFilter(field_name="subject__trial__code", help_text="A trial's code.")
    site = filters.CharFilter(field_name="subject__site__code", help_text="A site's code.")
    subject = filters.NumberFilter(field_name="subject_id", help_text="A subject's id.")
    status = filters.ChoiceFilter(choices=PlannedVisit.Status.choices)
    kind = filters.ChoiceFilter(choices=PlannedVisit.Kind.choices)
    overdue = filters.BooleanFilter()
    due_before = filters.DateFilter(field_name="window_end", lookup_expr="lte",
                                    help_text="Windows closing on or before this date.")

    class Meta:
        model = PlannedVisit
        fields = ["trial", "site", "subject", "status", "kind", "overdue", "due_before"]


@extend_schema_view(
    list=extend_schema(responses={200: VisitSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: VisitSerializer, **READ_ERRORS}),
    record=extend_schema(request=VisitRecordSerializer, responses={200: VisitSerializer, **WRITE_ERRORS}),
)
class VisitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Planned visits with their windows (generated from the protocol's visit plan and the doses)."""

    queryset = PlannedVisit.objects.none()  # the schema's model; the rows: get_queryset
    serializer_class = VisitSerializer
    permission_classes = [WriteRoles]
    pagination_class = ApiPagination
    filterset_class = VisitFilter
    write_roles = {"record": SITE_ROLES}

    def get_queryset(self):
        return (PlannedVisit.objects.filter(subject__in=readable_subjects(self.request.user).values("pk"))
                .select_related("subject__trial", "subject__site", "recorded_by")
                .order_by("subject__code", "target", "code"))

    @action(detail=True, methods=["post"], serializer_class=VisitSerializer)
    def record(self, request, pk=None):
        """Record the visit done (``done_on``; outside its window it is a protocol deviation) or missed
        (``missed_reason``): site staff of the subject's site. A recorded visit changes by a correction."""
        visit = self.get_object()
        require_writer(request.user, visit.subject, SITE_ROLES,
                       "Only the coordinators and investigators of the subject's site record visits.")
        data = VisitRecordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["action"] == "done":
            services.visit_record_done(visit=visit, user=request.user, done_on=values.get("done_on"))
        else:
            services.visit_record_missed(visit=visit, user=request.user, missed_reason=values["missed_reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=visit.pk)).data)


class FollowUpSerializer(BlankChoicesMixin, serializers.ModelSerializer):
    subject_code = serializers.CharField(source="subject.code", read_only=True)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = FollowUp
        fields = ["id", "subject", "subject_code", "last_dose", "new_therapy", "clinical_progression",
                  "last_known_alive", "follow_up_end", "follow_up_end_reason", "death_cause", "updated_by",
                  "updated_at"]
        read_only_fields = fields


class FollowUpInputSerializer(serializers.Serializer):
    """The follow-up page's form (visits.forms.FollowUpForm): every anchor optional; the service checks them
    against the doses, today and each other (errors name the field)."""

    subject = serializers.IntegerField(min_value=1, help_text="Subject id (one with no follow-up recorded yet).")
    last_dose = serializers.DateField(required=False, allow_null=True, default=None,
                                      help_text="Last dose (end of treatment): plans EOT and the safety follow-up.")
    new_therapy = serializers.DateField(required=False, allow_null=True, default=None,
                                        help_text="New anti-tumour therapy started on (ends the safety follow-up).")
    clinical_progression = serializers.DateField(required=False, allow_null=True, default=None,
                                                 help_text="Clinical progression (without RECIST imaging) on.")
    last_known_alive = serializers.DateField(required=False, allow_null=True, default=None,
                                             help_text="The last contact showing the subject alive.")
    follow_up_end = serializers.DateField(required=False, allow_null=True, default=None,
                                          help_text="Follow-up ended on (the date of death when by death).")
    follow_up_end_reason = serializers.ChoiceField(choices=FollowUp.EndReason.choices, required=False,
                                                   allow_blank=True, default="",
                                                   help_text="Why follow-up ended (with `follow_up_end`).")
    death_cause = CheckedCharField(required=False, allow_blank=True, default="", max_length=300,
                                   help_text="Cause of death (only when follow-up ended by death).")


class FollowUpFilter(filters.FilterSet):
    trial = filters.CharFilter(field_name="subject__trial__code", help_text="A trial's code.")
    site = filters.CharFilter(field_name="subject__site__code", help_text="A site's code.")
    subject = filters.NumberFilter(field_name="subject_id", help_text="A subject's id.")

    class Meta:
        model = FollowUp
        fields = ["trial", "site", "subject"]


@extend_schema_view(list=extend_schema(responses={200: FollowUpSerializer(many=True), **READ_ERRORS}),
                    retrieve=extend_schema(responses={200: FollowUpSerializer, **READ_ERRORS}),
                    create=extend_schema(request=FollowUpInputSerializer,
                                         responses={201: FollowUpSerializer, **WRITE_ERRORS}))
class FollowUpViewSet(viewsets.ReadOnlyModelViewSet):
    """Each subject's follow-up anchors (end of treatment, new therapy, end of follow-up, last known alive)."""

    queryset = FollowUp.objects.none()
    serializer_class = FollowUpSerializer
    permission_classes = [WriteRoles]
    pagination_class = ApiPagination
    filterset_class = FollowUpFilter
    write_roles = {"create": (Role.COORDINATOR,)}

    def get_queryset(self):
        return (FollowUp.objects.filter(subject__in=readable_subjects(self.request.user).values("pk"))
                .select_related("subject", "updated_by").order_by("subject__code"))

    def create(self, request, *args, **kwargs):
        """Record a subject's follow-up anchors (the follow-up page, ``visits.services.follow_up_set``): a
        coordinator of the subject's site; the visit plan is regenerated. Recorded once: a subject whose
        follow-up exists is refused (400 on `subject`); change it by a correction with a reason
        (``records/follow-up/<id>/correct/``). A subject the user cannot read: 400 on `subject`."""
        data = FollowUpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        pk = values.pop("subject")
        subject = readable_subjects(request.user).filter(pk=pk).first()
        if subject is None:
            raise ValidationError({"subject": f"No such subject: {pk}."})
        require_writer(request.user, subject, (Role.COORDINATOR,),
                       "Only a coordinator of the subject's site records the follow-up.")
        with transaction.atomic():
            Subject.objects.select_for_update().filter(pk=subject.pk).first()  # one first recording at a time
            existing = FollowUp.objects.filter(subject=subject).first()
            if existing is not None:
                raise ValidationError({"subject": "This subject's follow-up is already recorded: change it by a "
                                                  f"correction with a reason (records/follow-up/{existing.pk}/"
                                                  "correct/)."})
            follow_up = services.follow_up_set(subject=subject, user=request.user, **values)
        return Response(self.get_serializer(self.get_queryset().get(pk=follow_up.pk)).data,
                        status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("visits", VisitViewSet, basename="visit")
    router.register("follow-ups", FollowUpViewSet, basename="follow-up")
