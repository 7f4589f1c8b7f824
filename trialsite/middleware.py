"""The request guard: input that no page can use is refused at the door with a 400 page naming the
parameter, before any middleware or view reads it (docs/input.md).

- A body sent in any character set but UTF-8 (``charset=utf-16``, an unknown name) is refused; so is an
  ``application/x-www-form-urlencoded`` body that does not decode as UTF-8, or one with more fields
  than Django accepts, or one larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413). Django would raise
  these while the CSRF check reads ``request.POST``, and again in its own 400 handler: a 500.
- A query-string parameter (the GET filters of every page) that is not UTF-8, holds a control or
  bidirectional character, or is longer than :data:`GET_VALUE_MAX` characters.
- A cookie holding a control character (Python's cookie parser turns ``"\\000"`` into a NUL, which
  would reach the session table).

Values of a POST form are not judged here: the forms' input rules (``trialsite.forms``) refuse them
with a message on the field, keeping what was typed.
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpResponse
from django.template.loader import render_to_string

from trialsite.forms import character_problem, visible

GET_VALUE_MAX = 1000
ACCEPTED_CHARSETS = frozenset({"utf-8", "ascii"})


class Refused(Exception):
    def __init__(self, problem: str, *, parameter: str = "", status: int = 400):
        super().__init__(problem)
        self.problem, self.parameter, self.status = problem, parameter, status


def refused_response(request, problem: str, *, parameter: str = "", status: int = 400,
                     with_request: bool = True) -> HttpResponse:
    """The 400 page (templates/400.html): what was wrong, with which parameter; nothing was saved. Under
    /api/ the same in JSON, as the API's other 400s: ``{"parameter": ["problem"]}``."""
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({(visible(parameter) if parameter else "non_field_errors"): [problem]}, status=status)
    context = {"problem": problem, "parameter": visible(parameter) if parameter else "", "status": status}
    html = render_to_string("400.html", context, request=request if with_request else None)
    return HttpResponse(html, status=status)


def _pairs(raw: bytes, *, where: str, max_fields: int | None):
    """The (name, value) pairs of a query string or urlencoded body, decoded strictly as UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"The {where} is not UTF-8 text; send it as UTF-8.") from None
    chunks = [c for c in text.split("&") if c]
    if max_fields is not None and len(chunks) > max_fields:
        raise Refused(f"The {where} has {len(chunks):,} fields; at most {max_fields:,} are accepted.")
    for chunk in chunks:
        name, _, value = chunk.partition("=")
        shown = unquote_plus(name, errors="replace")
        try:
            yield unquote_plus(name, errors="strict"), unquote_plus(value, errors="strict")
        except UnicodeDecodeError:
            raise Refused("The value is not UTF-8 text once its %-escapes are decoded.", parameter=shown) from None


def check_charset(request) -> None:
    charset = request.content_params.get("charset")
    if charset is None:
        return
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        raise Refused(f"The form was sent in an unknown character set (“{visible(charset)}”); "
                      "TrialSite accepts UTF-8 only.") from None
    if name not in ACCEPTED_CHARSETS:
        raise Refused(f"The form was sent in the {visible(charset)} character set; TrialSite accepts UTF-8 only.")


def check_body(request) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    check_charset(request)
    if request.content_type != "application/x-www-form-urlencoded":
        return
    try:
        body = request.body
    except RequestDataTooBig:
        raise Refused(f"The form is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.", status=413) from None
    for _name, _value in _pairs(body, where="form", max_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS):
        pass


def check_query(request) -> None:
    raw = get_bytes_from_wsgi(request.META, "QUERY_STRING", "")
    for name, value in _pairs(raw, where="address (query string)", max_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS):
        for text in (name, value):
            problem = character_problem(text)
            if problem:
                raise Refused(problem, parameter=name)
        if len(value) > GET_VALUE_MAX:
            raise Refused(f"The value has {len(value):,} characters; at most {GET_VALUE_MAX:,} are accepted.",
                          parameter=name)


def bad_cookie(request) -> str | None:
    for name, value in request.COOKIES.items():
        if character_problem(name) or character_problem(value):
            return name
    return None


class InputGuardMiddleware:
    """Refuse, with a 400 page naming the parameter, the input no view can use (module docstring). It
    runs in ``__call__``, so before every ``process_view`` (the CSRF check reads the body there)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cookie = bad_cookie(request)
        if cookie is not None:
            # Rendered without the request: the session behind the cookie must not be loaded.
            response = refused_response(request, "A cookie of this site cannot be read; it has been removed. "
                                                 "Reload the page and log in again.", parameter=cookie,
                                        with_request=False)
            response.delete_cookie(cookie)
            return response
        try:
            check_query(request)
            check_body(request)
        except Refused as refused:
            return refused_response(request, refused.problem, parameter=refused.parameter, status=refused.status)
        return self.get_response(request)
