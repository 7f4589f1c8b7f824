"""Claiming, completing and releasing submission tokens (the rule of one click, one record).

A rendered form carries a fresh random token (``{% submission_token %}``). The first POST of a token
inserts its row — ``INSERT … ON CONFLICT DO NOTHING`` in an autocommit statement of its own, so the row
is visible to every other request at once — and runs the view. Any later POST of the same token by the
same user to the same address finds the row: it waits for the first request to finish, then is sent
where the first one went. See docs/once.md.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from submissions.models import SubmissionToken

TOKEN_FIELD = "submission_token"  # noqa: S105 - the name of a form field, not a secret


def retention() -> timedelta:
    """How long a used token is remembered (and a re-sent POST recognised)."""
    return timedelta(days=getattr(settings, "SUBMISSION_TOKEN_RETENTION_DAYS", 30))


def wait_seconds() -> float:
    """How long a repeated POST waits for the first one to finish before it gives up (409)."""
    return float(getattr(settings, "SUBMISSION_TOKEN_WAIT_SECONDS", 20))


def parse(raw: str) -> uuid.UUID | None:
    """The token of a POST, or None when it is not a token at all."""
    try:
        return uuid.UUID(raw.strip())
    except (ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class Claim:
    """What to do with a POST carrying a token.

    ``new``: the first use, run the view. ``done``: already submitted, go to ``location``.
    ``foreign``: the token was used by another user or for another form. ``running``: the first request
    has not finished within :func:`wait_seconds`.
    """

    state: Literal["new", "done", "foreign", "running"]
    location: str = ""


def _insert(token: uuid.UUID, *, user_id: int, path: str) -> bool:
    """Insert the token's row (and purge the rows past :func:`retention`); True when it was new."""
    table = connection.ops.quote_name(SubmissionToken._meta.db_table)
    now = timezone.now()
    # The table name comes from the model, every value is a parameter.
    sql = (
        f"WITH purged AS (DELETE FROM {table} WHERE created_at < %s) "  # noqa: S608
        f"INSERT INTO {table} (token, user_id, path, created_at, response_location) VALUES (%s, %s, %s, %s, '') "
        "ON CONFLICT (token) DO NOTHING RETURNING token"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now - retention(), token, user_id, path, now])
        return cursor.fetchone() is not None


def claim(token: uuid.UUID, *, user_id: int, path: str, wait: float | None = None) -> Claim:
    """Take ``token`` for this request, or say what became of its first use (waiting for it to end)."""
    deadline = time.monotonic() + (wait_seconds() if wait is None else wait)
    pause = 0.02
    while True:
        if _insert(token, user_id=user_id, path=path):
            return Claim("new")
        row = SubmissionToken.objects.filter(pk=token).values("user_id", "path", "completed_at",
                                                              "response_location").first()
        if row is None:
            continue  # the first request failed and gave its token back: this one is the first now
        if row["user_id"] != user_id or row["path"] != path:
            return Claim("foreign")
        if row["completed_at"] is not None:
            return Claim("done", row["response_location"])
        if time.monotonic() >= deadline:
            return Claim("running")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def complete(token: uuid.UUID, *, location: str) -> None:
    """The view succeeded: remember where it sent the user."""
    SubmissionToken.objects.filter(pk=token).update(completed_at=timezone.now(), response_location=location)


def release(token: uuid.UUID) -> None:
    """The view failed (form errors, refused, crashed): nothing was saved, the token may be sent again."""
    SubmissionToken.objects.filter(pk=token, completed_at__isnull=True).delete()
