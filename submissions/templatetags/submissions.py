"""``{% load submissions %}{% submission_token %}``: the one-time token of a form that changes data,
placed next to ``{% csrf_token %}``. Each rendering gives a new token, so a form re-rendered with errors
can be sent again."""

from __future__ import annotations

import uuid

from django import template
from django.utils.html import format_html

from submissions.tokens import TOKEN_FIELD

register = template.Library()


@register.simple_tag
def submission_token() -> str:
    return format_html('<input type="hidden" name="{}" value="{}">', TOKEN_FIELD, uuid.uuid4())
