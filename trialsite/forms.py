"""Form helpers shared by the apps, and the input rules every form of the application follows.

Every form is a :class:`CheckedForm` or :class:`CheckedModelForm`. Before a field's own cleaning,
the raw value is checked (docs/input.md):

- no control characters (C0, DEL, C1; a textarea may hold tab and line breaks) and no bidirectional
  embedding / override / isolate characters (U+202A–U+202E, U+2066–U+2069), whatever the field;
- free text has a maximum length, stated in the form (help text and ``maxlength``) and enforced:
  the model column's length, or 200 characters on one line and 2,000 in a textarea;
- numbers are written with the ASCII digits 0–9 (Python and Django also read "٣" or "３" as 3);
  whole numbers stay inside the range of the database column (or of a 32-bit integer), so a
  5,000-digit number is a field message, never a database error.
"""

from __future__ import annotations

import re
import unicodedata

from django import forms
from django.core import validators
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import connection, models

SINGLE_LINE_MAX = 200
TEXTAREA_MAX = 2000
INT32_RANGE = (-2147483648, 2147483647)
# Longer than any number a field can accept: refused before int() or Decimal() is tried.
NUMBER_MAX_CHARS = 40

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
CONTROL_NAMES = {0x00: "NULL", 0x09: "TAB", 0x0A: "LINE FEED", 0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE",
                 0x7F: "DELETE"}
LINE_BREAKS = frozenset("\t\n\r")
ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")
ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
ASCII_ID = re.compile(r"[0-9]{1,18}")


def character_name(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: how a refused character is named in a message."""
    name = unicodedata.name(char, "") or CONTROL_NAMES.get(ord(char), "control character")
    return f"U+{ord(char):04X} {name}"


def forbidden_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of ``text`` that no input may hold: a control character (tab and line
    breaks allowed when ``multiline``) or a bidirectional control. None when there is none."""
    for char in text:
        if char in BIDI_CONTROLS:
            return char
        if unicodedata.category(char) == "Cc" and not (multiline and char in LINE_BREAKS):
            return char
    return None


def character_problem(text: str, *, multiline: bool = False) -> str | None:
    """The message for a refused character in ``text``, or None."""
    char = forbidden_character(text, multiline=multiline)
    if char is None:
        return None
    if char in BIDI_CONTROLS:
        return (f"Remove the bidirectional control character {character_name(char)}: it makes text display "
                "differently from what is stored.")
    return f"Remove the control character {character_name(char)}: it cannot be typed or stored here."


def visible(text: str, limit: int = 60) -> str:
    """``text`` safe to show in a message: refused characters written as U+XXXX, cut at ``limit``."""
    shown = "".join(f"<U+{ord(c):04X}>" if forbidden_character(c) else c for c in text[:limit])
    return shown + ("…" if len(text) > limit else "")


def ascii_id(value: str, *, name: str) -> int:
    """A record id typed as ASCII digits (at most 18, inside a bigint), or a ValidationError naming
    ``name``."""
    if not ASCII_ID.fullmatch(value or ""):
        raise ValidationError({name: f"“{visible(value)}” is not a record number (digits 0–9 only)."})
    return int(value)


def _is_free_text(field: forms.Field) -> bool:
    return (isinstance(field, forms.CharField) and not isinstance(field, forms.RegexField)
            and not field.widget.is_hidden and not isinstance(field.widget, forms.PasswordInput))


def _is_whole_number(field: forms.Field) -> bool:
    # Django's DecimalField and FloatField are IntegerField subclasses.
    return isinstance(field, forms.IntegerField) and not isinstance(field, (forms.DecimalField, forms.FloatField))


def _number_problem(field: forms.Field, raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) > NUMBER_MAX_CHARS:
        return f"This number is too long: enter at most {NUMBER_MAX_CHARS} characters."
    if (ASCII_INTEGER if _is_whole_number(field) else ASCII_DECIMAL).fullmatch(text):
        return None
    # A digit of another script (Python and Django read "٣" or "３" as 3, "²" breaks int()).
    other = next((c for c in text if not c.isascii() and unicodedata.category(c) in ("Nd", "No", "Nl")), None)
    if other is not None:
        return f"Type the number with the digits 0–9: “{other}” ({character_name(other)}) is not one of them."
    # "1_000", "1e5", "NaN", "0x1A": Python would read some of them; the form reads plain numbers only.
    return str(field.error_messages["invalid"])


class InputRulesMixin:
    """The input rules of the module docstring, applied to every field of the form, including fields
    a subclass adds in ``__init__`` (the rules are put on the fields when the form is first rendered
    or validated)."""

    def _apply_input_rules(self) -> None:
        done = self.__dict__.setdefault("_input_rules_applied", set())
        for name, field in self.fields.items():
            if name not in done:
                done.add(name)
                self._input_rules_for(name, field)

    def _input_rules_for(self, name: str, field: forms.Field) -> None:
        if _is_free_text(field):
            multiline = isinstance(field.widget, forms.Textarea)
            if field.max_length is None:
                field.max_length = TEXTAREA_MAX if multiline else SINGLE_LINE_MAX
                field.validators.append(validators.MaxLengthValidator(field.max_length))
            field.widget.attrs["maxlength"] = str(field.max_length)
            stated = f"At most {field.max_length:,} characters."
            if stated not in str(field.help_text):
                field.help_text = f"{field.help_text} {stated}".strip()
        if _is_whole_number(field):
            low, high = self._integer_range(name)
            if field.min_value is None or field.min_value < low:
                field.min_value = low
                field.validators.append(validators.MinValueValidator(low))
            if field.max_value is None or field.max_value > high:
                field.max_value = high
                field.validators.append(validators.MaxValueValidator(high))
        original = field.clean
        multiline = isinstance(field.widget, forms.Textarea)
        checks_characters = not isinstance(field.widget, forms.PasswordInput)

        def clean(value, *args):
            for raw in value if isinstance(value, (list, tuple)) else [value]:
                if not isinstance(raw, str):
                    continue
                problem = checks_characters and character_problem(raw, multiline=multiline)
                if not problem and isinstance(field, forms.IntegerField):  # DecimalField, FloatField too
                    problem = _number_problem(field, raw)
                if not problem and isinstance(field, forms.ModelChoiceField) and raw.strip() \
                        and not ASCII_ID.fullmatch(raw.strip()) and _integer_pk(field):
                    problem = field.error_messages["invalid_choice"] % {"value": visible(raw)}
                if problem:
                    raise ValidationError(problem, code="input_rules")
            return original(value, *args)

        field.clean = clean

    def _integer_range(self, name: str) -> tuple[int, int]:
        """The database range of the model column behind ``name`` (ModelForm), else a 32-bit range."""
        model = getattr(getattr(self, "_meta", None), "model", None)
        if model is not None:
            try:
                column = model._meta.get_field(name)
            except FieldDoesNotExist:  # a form field that is not a model field
                column = None
            if isinstance(column, models.IntegerField):
                low, high = connection.ops.integer_field_range(column.get_internal_type())
                return (low if low is not None else INT32_RANGE[0], high if high is not None else INT32_RANGE[1])
        return INT32_RANGE

    def __getitem__(self, name):
        self._apply_input_rules()
        return super().__getitem__(name)

    def full_clean(self):
        self._apply_input_rules()
        return super().full_clean()


def _integer_pk(field: forms.ModelChoiceField) -> bool:
    model_field = (field.queryset.model._meta.get_field(field.to_field_name) if field.to_field_name
                   else field.queryset.model._meta.pk)
    return isinstance(model_field, models.IntegerField)


class CheckedForm(InputRulesMixin, forms.Form):
    """A form that follows the input rules (module docstring)."""


class CheckedModelForm(InputRulesMixin, forms.ModelForm):
    """A model form that follows the input rules (module docstring)."""


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the named field when the form has it."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)
