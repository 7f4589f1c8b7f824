"""Entry forms of tumour assessments: the baseline scan with its lesions, a follow-up time point built from
the subject's baseline lesions, and the investigator's review of a time point's response."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone

from response.models import RESPONSE_CHOICES, Lesion, LesionMeasurement, TumourAssessment
from response.services import OVERRIDE_REASON_MIN_LENGTH, LesionEntry
from trialsite.forms import CheckedForm, DateInput

BASELINE_ROWS = 10
DIAMETER_LIMITS = {"max_digits": 6, "decimal_places": 1, "min_value": Decimal(0), "max_value": Decimal("9999.9")}
TARGET_STATUSES = [(LesionMeasurement.Status.MEASURED, "Measured"),
                   (LesionMeasurement.Status.TOO_SMALL, "Too small to measure (counts 5 mm)"),
                   (LesionMeasurement.Status.NOT_EVALUATED, "Not evaluated")]
NON_TARGET_STATUSES = [(LesionMeasurement.Status.PRESENT, "Present (non-CR/non-PD)"),
                       (LesionMeasurement.Status.ABSENT, "Absent (disappeared)"),
                       (LesionMeasurement.Status.PROGRESSION, "Unequivocal progression"),
                       (LesionMeasurement.Status.NOT_EVALUATED, "Not evaluated")]


def _scan_date(value):
    if value > timezone.localdate():
        raise forms.ValidationError("A scan date cannot be in the future.")
    return value


class ScanForm(CheckedForm):
    assessed_on = forms.DateField(widget=DateInput(), label="Scan date",
                                  error_messages={"required": "Enter the date of the scan.",
                                                  "invalid": "Enter a valid date, e.g. 2026-03-14."})
    method = forms.ChoiceField(choices=TumourAssessment.Method.choices, initial=TumourAssessment.Method.CT)

    def clean_assessed_on(self):
        return _scan_date(self.cleaned_data["assessed_on"])


class BaselineForm(ScanForm):
    """The baseline scan and up to ten lesions (rows left blank are ignored). Targets are numbered T1… and
    non-targets NT1… in the order entered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = []
        for i in range(1, BASELINE_ROWS + 1):
            names = {
                "kind": forms.ChoiceField(choices=[("", "—"), *Lesion.Kind.choices], required=False,
                                          label=f"Lesion {i}: kind"),
                "organ": forms.CharField(max_length=80, required=False, label="Organ"),
                "location": forms.CharField(max_length=200, required=False, label="Location"),
                "node": forms.BooleanField(required=False, label="Lymph node"),
                "diameter": forms.DecimalField(required=False, label="Diameter (mm)", **DIAMETER_LIMITS),
                "axis": forms.ChoiceField(choices=[("", "—"), *LesionMeasurement.Axis.choices], required=False,
                                          label="Measured by"),
            }
            row = {}
            for name, field in names.items():
                key = f"l{i}_{name}"
                self.fields[key] = field
                row[name] = key
            self.rows.append(row)

    ROW_FIELDS = {"diameter_mm": "diameter", "axis": "axis", "organ": "organ", "kind": "kind", "node": "node"}

    def add_service_errors(self, exc) -> None:
        """A service error about lesion T2's axis goes on the axis field of the row that became T2."""
        from trialsite.forms import add_service_errors

        if not hasattr(exc, "error_dict"):
            add_service_errors(self, exc)
            return
        rest = {}
        for name, errors in exc.error_dict.items():
            parts = name.split(".")
            row = self.row_of_key.get(parts[1]) if len(parts) == 3 and parts[0] == "lesions" else None
            if row is None:
                rest[name] = errors
                continue
            field = self.rows[row - 1][self.ROW_FIELDS.get(parts[2], "kind")]
            self.add_error(field, errors)
        if rest:
            add_service_errors(self, type(exc)(rest))

    def bound_rows(self):
        return [{"number": i, "fields": [self[key] for key in row.values()]} for i, row in enumerate(self.rows, 1)]

    def clean(self):
        data = super().clean()
        entries = []
        self.row_of_key: dict[str, int] = {}
        counts = {Lesion.Kind.TARGET: 0, Lesion.Kind.NON_TARGET: 0}
        for i, row in enumerate(self.rows, 1):
            kind, organ = data.get(row["kind"]) or "", (data.get(row["organ"]) or "").strip()
            diameter, axis = data.get(row["diameter"]), data.get(row["axis"]) or ""
            if not kind and not organ and diameter is None:
                continue
            if not kind:
                self.add_error(row["kind"], f"Lesion {i}: choose target or non-target.")
                continue
            if not organ:
                self.add_error(row["organ"], f"Lesion {i}: name the organ.")
                continue
            if kind == Lesion.Kind.TARGET and diameter is None:
                self.add_error(row["diameter"], f"Lesion {i}: a target lesion needs its baseline diameter in mm.")
                continue
            if kind == Lesion.Kind.TARGET and not axis:
                self.add_error(row["axis"], f"Lesion {i}: say how it was measured (longest diameter; short axis "
                                            "for lymph nodes).")
                continue
            counts[kind] += 1  # numbered as the service numbers them: T1…, NT1… in the order entered
            self.row_of_key[f"{'T' if kind == Lesion.Kind.TARGET else 'NT'}{counts[kind]}"] = i
            entries.append(LesionEntry(kind=kind, organ=organ, location=data.get(row["location"]) or "",
                                       node=bool(data.get(row["node"])), diameter_mm=diameter, axis=axis))
        if not entries and not self.errors:
            raise forms.ValidationError("Record at least one lesion (RECIST 1.1: the baseline documents every "
                                        "lesion, targets measured).")
        data["lesions"] = entries
        return data


class TimePointForm(ScanForm):
    """A follow-up scan: one field per baseline lesion."""

    new_lesions = forms.ChoiceField(choices=TumourAssessment.NewLesions.choices,
                                    initial=TumourAssessment.NewLesions.NONE, label="New lesions")
    visit = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Imaging visit")

    def __init__(self, *args, subject, lesions, visits, **kwargs):
        super().__init__(*args, **kwargs)
        self.subject = subject
        self.lesions = lesions
        self.visit_objects = {v.pk: v for v in visits}
        self.fields["visit"].choices = [("", "— not a planned visit —"),
                                        *((v.pk, f"{v.code} (window {v.window_start:%d %b} – {v.window_end:%d %b %Y})")
                                          for v in visits)]
        for lesion in lesions:
            label = f"{lesion.key} {lesion.organ}{' (node, short axis)' if lesion.node else ''}"
            if lesion.kind == Lesion.Kind.TARGET:
                self.fields[f"t_{lesion.key}"] = forms.DecimalField(required=False, label=f"{label}: mm",
                                                                    **DIAMETER_LIMITS)
                self.fields[f"s_{lesion.key}"] = forms.ChoiceField(choices=TARGET_STATUSES, label=f"{label}: status",
                                                                   initial=LesionMeasurement.Status.MEASURED)
            else:
                self.fields[f"nt_{lesion.key}"] = forms.ChoiceField(choices=NON_TARGET_STATUSES, label=label,
                                                                    initial=LesionMeasurement.Status.PRESENT)

    def lesion_rows(self):
        rows = []
        for lesion in self.lesions:
            if lesion.kind == Lesion.Kind.TARGET:
                rows.append({"lesion": lesion, "value": self[f"t_{lesion.key}"], "status": self[f"s_{lesion.key}"]})
            else:
                rows.append({"lesion": lesion, "status": self[f"nt_{lesion.key}"]})
        return rows

    def error_field(self, key: str) -> str:
        """The form field a service error about lesion ``key`` belongs to."""
        for prefix in ("t_", "nt_"):
            if f"{prefix}{key}" in self.fields:
                return f"{prefix}{key}"
        return key

    def clean(self):
        data = super().clean()
        values = {}
        for lesion in self.lesions:
            if lesion.kind == Lesion.Kind.TARGET:
                # A measured target without a diameter is the service's to refuse (its message comes back on
                # this lesion's field: error_field).
                status = data.get(f"s_{lesion.key}") or LesionMeasurement.Status.MEASURED
                diameter = data.get(f"t_{lesion.key}")
                values[lesion.key] = (status, diameter if status == LesionMeasurement.Status.MEASURED else None)
            else:
                values[lesion.key] = (data.get(f"nt_{lesion.key}"), None)
        data["values"] = values
        visit = data.get("visit")
        data["visit"] = self.visit_objects.get(visit) if visit else None
        return data


class ReviewForm(CheckedForm):
    response = forms.ChoiceField(choices=RESPONSE_CHOICES, label="Overall response")
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000, label="Reason (when overriding)",
        help_text=f"Needed when the response differs from the computed one (at least {OVERRIDE_REASON_MIN_LENGTH} "
                  "characters).")
