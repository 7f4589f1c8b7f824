"""What every API view shares (docs/api.md): errors that name the field, whatever layer raised them; the
pagination; the permission that keeps monitors, data managers and sponsors from writing; the serializer
mixin that hides who a subject is from those who read by code; text fields with the pages' input rules;
the documented error responses of the schema. Other API modules import these names (keep them stable):

``exception_handler``, ``ApiPagination``, ``WriteRoles``, ``write_roles_for``, ``require_writer``,
``IdentityMixin``, ``may_identify``, ``CheckedCharField``, ``ERRORS``, ``READ_ERRORS``, ``WRITE_ERRORS``,
``VALIDATION_ERROR_SCHEMA``, ``DetailSerializer``, ``CODE_REGEX``, ``BlankChoicesMixin``, ``not_found``.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import exception_handler as drf_exception_handler

from trials.access import identifiable, require_site_role
from trials.models import Membership

# A trial's or a site's code in a URL (slugs).
CODE_REGEX = r"[-a-zA-Z0-9_]+"


def exception_handler(exc, context):
    """DRF's handler, plus the services' Django ``ValidationError`` as a 400 whose body names each field
    (``{"field": ["message"]}``; errors not tied to a field under ``non_field_errors``)."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {("non_field_errors" if name == "__all__" else name): messages
                      for name, messages in exc.message_dict.items()}
        else:
            detail = {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)


class ApiPagination(PageNumberPagination):
    """50 a page (``?page=``), up to 200 with ``?page_size=``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


# --- who may write ---------------------------------------------------------------------------------


def write_roles_for(view) -> tuple[str, ...] | None:
    """The roles that may make the view's current write (``view.write_roles``: action name -> roles);
    None when the action does not write."""
    return getattr(view, "write_roles", {}).get(getattr(view, "action", None))


class WriteRoles(permissions.IsAuthenticated):
    """Signed in; and for a write, holding one of the action's roles (``write_roles``) somewhere: a monitor,
    a data manager or a sponsor never writes clinical data (403 before anything is read). Whether the
    role is held *at the record's site* is :func:`require_writer`'s check, once the record is found."""

    message = "Your role does not allow this change."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        roles = write_roles_for(view)
        if roles is None:
            return True
        return Membership.objects.filter(user=request.user, role__in=roles).exists()


def require_writer(user, record, roles, message: str = "Your role at this site does not allow this change.") -> None:
    """403 unless ``user`` holds one of ``roles`` at the trial and site of ``record`` (trials.access)."""
    require_site_role(user, record, roles, message)


# --- who the subject is -----------------------------------------------------------------------------


def may_identify(context: dict, owner) -> bool:
    """Whether the requesting user may see who ``owner`` (a subject, a screening record) is:
    :func:`trials.access.identifiable`, asked once per (trial, site) of a response."""
    request = context.get("request")
    if request is None or owner is None:
        return False
    cache = context.setdefault("_identifiable", {})
    key = (owner.trial_id, owner.site_id)
    if key not in cache:
        cache[key] = identifiable(request.user, owner)
    return cache[key]


class IdentityMixin:
    """A serializer whose ``identity_fields`` (initials, date of birth…) are null for a reader who may not
    identify the record's subject (a data manager reads by code). Declare those fields ``allow_null``;
    ``identity_owner(instance)`` gives the subject or screening record (default: the instance)."""

    identity_fields: tuple[str, ...] = ("initials", "date_of_birth")

    def identity_owner(self, instance):
        return instance

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not may_identify(self.context, self.identity_owner(instance)):
            for name in self.identity_fields:
                if name in data:
                    data[name] = None
        return data


class BlankChoicesMixin:
    """A model serializer whose read-only choice fields keep the model's blank (and null) value: DRF drops
    ``allow_blank`` from read-only fields, so the schema's enum would refuse the ``""`` the API answers for
    a choice not made yet (an adverse event's outcome, a subject's off-study reason)."""

    def get_fields(self):
        fields = super().get_fields()
        model = self.Meta.model
        for name, field in fields.items():
            source = field.source or name  # not bound yet: a field's source is its name unless given
            if not (isinstance(field, serializers.ChoiceField) and field.read_only) or "." in source:
                continue
            try:
                model_field = model._meta.get_field(source)
            except FieldDoesNotExist:  # not a model field (a property, a method)
                continue
            field.allow_blank = field.allow_blank or bool(getattr(model_field, "blank", False))
            field.allow_null = field.allow_null or bool(getattr(model_field, "null", False))
        return fields


# --- input --------------------------------------------------------------------------------------------


class CheckedCharField(serializers.CharField):
    """Text with the pages' input rules (trialsite.forms): no control character (line breaks allowed when
    ``multiline``) nor bidirectional control."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        from trialsite.forms import character_problem

        value = super().to_internal_value(data)
        problem = character_problem(value, multiline=self.multiline)
        if problem:
            raise serializers.ValidationError(problem)
        return value


# --- documented errors ----------------------------------------------------------------------------------


def not_found(request, exception=None):
    """The site's 404 (``handler404``): JSON under /api/, as every API answer (a URL no route matches, e.g.
    ``/api/v1/subjects/1.5/``); the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


# A 400's body: each field refused, with its messages; ``non_field_errors`` for what concerns no one field.
VALIDATION_ERROR_SCHEMA = {"type": "object", "additionalProperties": {}, "description":
                           "Each field refused, with its messages (`{\"field\": [\"message\"]}`); "
                           "`non_field_errors` for what concerns no one field."}


READ_ERRORS = {
    400: OpenApiResponse(VALIDATION_ERROR_SCHEMA, description="A refused parameter (a filter's value, a query "
                         "string or a header the site cannot read), named: `{\"parameter\": [\"message\"]}`."),
    403: OpenApiResponse(DetailSerializer, description="Not signed in, or the role does not allow this."),
    404: OpenApiResponse(DetailSerializer, description="No such object in the user's scope."),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: OpenApiResponse(VALIDATION_ERROR_SCHEMA, description="Refused input; nothing was saved."),
}
ERRORS = WRITE_ERRORS

__all__ = [
    "CODE_REGEX",
    "ERRORS",
    "READ_ERRORS",
    "VALIDATION_ERROR_SCHEMA",
    "WRITE_ERRORS",
    "ApiPagination",
    "BlankChoicesMixin",
    "CheckedCharField",
    "DetailSerializer",
    "IdentityMixin",
    "PermissionDenied",
    "WriteRoles",
    "exception_handler",
    "may_identify",
    "not_found",
    "require_writer",
    "write_roles_for",
]

