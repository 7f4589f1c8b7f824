"""The one-time tokens of submitted forms."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SubmissionToken(models.Model):
    """One POST of one rendered form.

    The row is written (in its own autocommit statement) before the view runs, so a second request with
    the same token finds it even while the first is still saving. ``completed_at`` is set when the view
    answered with success, with ``response_location`` the page it sent the user to; a failed request's
    row is deleted, so the corrected form can be sent again. Rows older than
    ``SUBMISSION_TOKEN_RETENTION_DAYS`` (default 30) are purged by each new insert.

    Not clinical data and not audited: it only remembers that a form was sent.
    """

    token = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    path = models.TextField()
    created_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    response_location = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.token} {self.path} ({'done' if self.completed_at else 'running'})"
