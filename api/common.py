"""What every API view shares: errors that name the field, whatever layer raised them."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


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
