"""API: the dispensing of an oral drug taken at home (one record a cycle: tablets dispensed, then returned with
the days missed; subjects.dispensing). Read by whoever reads the subject's records (void ones included, with
their reason); recorded (POST) and returned (``return/``) by a coordinator of the subject's site, through the
same services as the dispensing pages, which derive the doses of the days taken (docs/api.md)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import READ_ERRORS, WRITE_ERRORS, CheckedCharField, require_writer
from api.subjects import DrugCycleFilter, SubjectCodeMixin, SubjectRecordViewSet
from subjects import dispensing
from subjects.models import OralDispensing
from trials.models import Role

ROLE_MESSAGE = dispensing.ROLE_MESSAGE
TABLETS_MAX = 10000  # as on the dispensing form


class DispensingSerializer(SubjectCodeMixin, serializers.ModelSerializer):
    drug_name = serializers.CharField(source="drug.name", read_only=True)
    missed_days = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = OralDispensing
        fields = [
            "id",
            "subject",
            "subject_code",
            "drug",
            "drug_name",
            "cycle",
            "dispensed_on",
            "first_dose_at",
            "tablets_dispensed",
            "tablet_strength",
            "tablets_per_day",
            "returned_on",
            "tablets_returned",
            "missed_days",
            "discrepancy_reason",
            "recorded_by",
            "recorded_at",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields


def _missed_days_field():
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=999),
        required=False,
        default=list,
        help_text="Days of the cycle (among the drug's administration days) without a tablet, from the diary.",
    )


def _text_field(help_text: str):
    return CheckedCharField(
        multiline=True, required=False, allow_blank=True, default="", max_length=1000, help_text=help_text
    )


class ReturnFields(serializers.Serializer):
    missed_days = _missed_days_field()
    discrepancy_reason = _text_field("Only when the tablets used differ from days taken × tablets a day.")


class DispensingCreateSerializer(ReturnFields):
    subject = serializers.IntegerField(min_value=1)
    drug = serializers.IntegerField(
        min_value=1, help_text="An oral drug of the subject's regimen recorded by dispensing (trials/<code>/: drugs)."
    )
    cycle = serializers.IntegerField(min_value=1, max_value=999)
    dispensed_on = serializers.DateField()
    first_dose_at = serializers.DateTimeField(help_text="When the day-1 tablet was taken (not in the future).")
    tablets_dispensed = serializers.IntegerField(min_value=1, max_value=TABLETS_MAX)
    returned_on = serializers.DateField(required=False, allow_null=True, help_text="Empty until the tablets return.")
    tablets_returned = serializers.IntegerField(
        min_value=0, max_value=TABLETS_MAX, required=False, allow_null=True, help_text="With `returned_on`."
    )
    deviation_reason = _text_field("Only when day 1 was outside the cycle window or without the pre-dose assessments.")

    def validate(self, attrs):
        returned_on, tablets_returned = attrs.get("returned_on"), attrs.get("tablets_returned")
        if (returned_on is None) != (tablets_returned is None):
            missing = "returned_on" if returned_on is None else "tablets_returned"
            raise serializers.ValidationError({missing: "Give the return date and the tablets returned together."})
        return attrs


class DispensingReturnSerializer(ReturnFields):
    returned_on = serializers.DateField()
    tablets_returned = serializers.IntegerField(min_value=0, max_value=TABLETS_MAX, help_text="0 if none came back.")


def _check_missed_days(drug, missed_days) -> None:
    wrong = sorted(set(missed_days) - set(drug.administration_days))
    if wrong:
        days = ", ".join(str(d) for d in drug.administration_days)
        raise ValidationError({"missed_days": f"{drug.name} is taken on days {days} of the cycle: "
                                              f"{', '.join(str(d) for d in wrong)} is not one of them."})


class DispensingFilter(DrugCycleFilter):
    class Meta:
        model = OralDispensing
        fields = ["trial", "site", "subject", "drug", "cycle", "voided"]


@extend_schema_view(
    list=extend_schema(responses={200: DispensingSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: DispensingSerializer, **READ_ERRORS}),
    create=extend_schema(request=DispensingCreateSerializer, responses={201: DispensingSerializer, **WRITE_ERRORS}),
    return_tablets=extend_schema(
        request=DispensingReturnSerializer, responses={200: DispensingSerializer, **WRITE_ERRORS}
    ),
)
class DispensingViewSet(SubjectRecordViewSet):
    """Oral drug dispensing. Recording one cycle's (POST, a coordinator of the subject's site) derives the
    day-1 dose at once (the return may be given now or later); the return (``return/``) derives the doses of
    the days taken, with every check a dose has."""

    model = OralDispensing
    queryset = OralDispensing.objects.none()
    serializer_class = DispensingSerializer
    create_serializer_class = DispensingCreateSerializer
    filterset_class = DispensingFilter
    write_roles = {"create": (Role.COORDINATOR,), "return_tablets": (Role.COORDINATOR,)}

    def get_queryset(self):
        return super().get_queryset().select_related("drug")

    def perform_write(self, subject, values):
        drug = subject.trial.drugs.filter(pk=values.pop("drug")).first()
        if drug is None:
            raise ValidationError({"drug": "This drug is not part of the subject's regimen."})
        if drug not in dispensing.dispensed_drugs(subject.trial):
            raise ValidationError({"drug": f"{drug.name} is not recorded by dispensing: record its doses."})
        _check_missed_days(drug, values["missed_days"])
        return dispensing.dispensing_record(subject=subject, drug=drug, user=self.request.user, **values)

    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_tablets(self, request, pk=None):
        """The tablets returned and the days missed (a coordinator of the subject's site): the days taken
        become doses."""
        record = self.get_object()
        require_writer(request.user, record.subject, self.write_roles["return_tablets"], ROLE_MESSAGE)
        data = DispensingReturnSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _check_missed_days(record.drug, data.validated_data["missed_days"])
        dispensing.dispensing_return(dispensing=record, user=request.user, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=record.pk)).data)


def register(router) -> None:
    router.register("dispensings", DispensingViewSet, basename="dispensing")
