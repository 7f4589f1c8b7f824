"""Audit of what is not a clinical record but decides who may do what: users and the trials' site links.

(Sites, memberships (roles), reference ranges and the trials themselves are tracked in their own apps.)
The tables belong to other apps (``django.contrib.auth``, the auto-created ``Trial.sites`` link table), so
the triggers hang on proxy models here, whose migrations live in this app.
"""

from __future__ import annotations

import pghistory
from django.contrib.auth import get_user_model

from trials.models import Trial

User = get_user_model()


@pghistory.track(
    pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
    # The password hash and the last-login stamp are not history a reviewer reads (sign-ins are
    # audited separately).
    exclude=["password", "last_login"],
    model_name="UserEvent",
)
class AuditedUser(User):
    class Meta:
        proxy = True
        verbose_name = "user (audited)"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent(), model_name="TrialSiteEvent")
class TrialSiteLink(Trial.sites.through):
    class Meta:
        proxy = True
        verbose_name = "trial–site link"
