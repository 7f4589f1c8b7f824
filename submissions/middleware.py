"""One click, one record, for every view: a POST carrying a ``submission_token`` runs its view only
the first time; a repeat is sent where the first went (see :mod:`submissions.tokens`, docs/once.md).

POSTs without a token (API clients, pages rendered before the token existed, forms that change
nothing such as log-out) pass through unchanged. Placed after the CSRF, log-in and htmx middleware:
a token is only taken for a request the CSRF check and the log-in rule have let through.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils.http import url_has_allowed_host_and_scheme

from submissions import tokens
from trialsite.views import redirect_after_form

ALREADY_SUBMITTED = "This form was already submitted; nothing was saved twice."
FOREIGN = ("This form's submission token belongs to another form or another user; nothing was saved. "
           "Reload the page and submit the form again.")
INVALID = "The form's submission token is not valid; nothing was saved. Reload the page and submit the form again."
RUNNING = ("This form is still being saved from your first submission; nothing was saved twice. "
           "Reload the page in a moment to see the result.")


def result_location(request, response) -> str:
    """Where a successful answer sent the user: its HX-Redirect or Location, else (an htmx answer that
    swapped part of the page) the page the form was on; a path on this site, never another host."""
    candidates = [response.headers.get("HX-Redirect")]
    if 300 <= response.status_code < 400:
        candidates.append(response.headers.get("Location"))
    candidates.append(request.headers.get("HX-Current-URL"))
    for url in candidates:
        if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
            parts = urlsplit(url)
            return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    return request.get_full_path()


class SubmissionTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            response = self.get_response(request)
        except BaseException:
            self._finish(request, None)
            raise
        self._finish(request, response)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or not request.user.is_authenticated:
            return None
        raw = request.POST.get(tokens.TOKEN_FIELD)
        if raw is None:
            return None
        token = tokens.parse(raw)
        if token is None:
            return HttpResponseBadRequest(INVALID, content_type="text/plain; charset=utf-8")
        claim = tokens.claim(token, user_id=request.user.pk, path=request.path)
        if claim.state == "new":
            request.submission_token = token
            return None
        if claim.state == "done":
            messages.info(request, ALREADY_SUBMITTED)
            return redirect_after_form(request, claim.location)
        if claim.state == "foreign":
            return HttpResponseBadRequest(FOREIGN, content_type="text/plain; charset=utf-8")
        return HttpResponse(RUNNING, status=409, content_type="text/plain; charset=utf-8")

    @staticmethod
    def _finish(request, response) -> None:
        token = getattr(request, "submission_token", None)
        if token is None:
            return
        if response is not None and response.status_code < 400:
            tokens.complete(token, location=result_location(request, response))
        else:
            tokens.release(token)
