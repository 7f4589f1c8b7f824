"""The one way to fetch protected objects: every view and API goes through these functions.

Site staff (coordinators, investigators) see the subjects of the sites where they hold the role;
sponsors see trial-wide de-identified summaries and never a subject record; administrators manage
protocols, sites and users through the admin site.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from trials.models import SITE_ROLES, SITE_SCOPED_ROLES, Membership, Role, Trial


def trials_for(user) -> QuerySet[Trial]:
    return Trial.objects.filter(memberships__user=user).distinct()


def roles_in(user, trial: Trial) -> set[str]:
    known = _memberships_known(user, trial)
    if known is not None:
        return {role for role, _ in known}
    return set(Membership.objects.filter(user=user, trial=trial).values_list("role", flat=True))


def _memberships_known(user, trial: Trial):
    """The user's (role, site pk) in ``trial`` as :func:`access_trial` read them with the trial, or None."""
    known = getattr(trial, "_memberships_of", None)
    return known[1] if known is not None and known[0] == user.pk else None


def access_trial(user, code: str, roles: tuple[str, ...] | None = None) -> Trial:
    """The trial ``code`` if the user holds one of ``roles`` in it (any role when None); else 404/403.

    One query: the user's memberships in the trial, with the trial; they stay on the returned trial for
    :func:`roles_in` and :func:`site_ids_for` (same request, same user)."""
    memberships = (list(Membership.objects.filter(user=user, trial__code=code).select_related("trial"))
                   if getattr(user, "is_authenticated", False) else [])
    if not memberships:
        raise Http404("No such trial")
    trial = memberships[0].trial
    trial._memberships_of = (user.pk, tuple((m.role, m.site_id) for m in memberships))
    if roles is not None and not roles_in(user, trial) & set(roles):
        raise PermissionDenied("Your role in this trial does not allow this.")
    return trial


def sites_for(user, trial: Trial, roles=SITE_ROLES):
    from trials.models import Site

    return Site.objects.filter(memberships__user=user, memberships__trial=trial, memberships__role__in=roles)


def site_ids_for(user, trial: Trial, roles=SITE_ROLES) -> list[int]:
    """The pks of the sites where ``user`` holds one of ``roles`` in ``trial``, in order: :func:`sites_for`'s
    pks, without a query when :func:`access_trial` fetched the trial for this user."""
    known = _memberships_known(user, trial)
    if known is None:
        return sorted(sites_for(user, trial, roles).values_list("pk", flat=True).distinct())
    return sorted({site for role, site in known if role in roles and site is not None})


def at_staff_sites(user, roles=SITE_ROLES, trial: Trial | None = None) -> Q:
    """Rows with ``trial`` and ``site`` at the (trial, site) pairs where the user is site staff
    (coordinator or investigator; only ``roles`` when given), in ``trial`` only when given.

    One term per trial (``trial_id = t AND site_id IN (…)``), not one per (trial, site) role: a page of one trial
    asks for that trial's sites only, whatever else the user works on (issue 14)."""
    sites: dict[int, set[int]] = {}
    if trial is not None:  # no query when access_trial read the user's memberships with the trial
        if found := site_ids_for(user, trial, roles):
            sites[trial.pk] = set(found)
    else:
        memberships = Membership.objects.filter(user=user, role__in=roles, site__isnull=False)
        for trial_id, site_id in memberships.values_list("trial_id", "site_id"):
            sites.setdefault(trial_id, set()).add(site_id)
    condition = Q(pk__in=[])
    for trial_id in sorted(sites):
        condition |= Q(trial_id=trial_id, site_id__in=sorted(sites[trial_id]))
    return condition


def data_manager_trials(user):
    """The ids of the trials where the user is a data manager (trial-wide, by subject code)."""
    return Membership.objects.filter(user=user, role=Role.DATA_MANAGER).values("trial_id")


def readable(user, trial: Trial | None = None) -> Q:
    """Rows with ``trial`` and ``site`` whose records the user may read: at the sites where the user is
    site staff or the monitor (identifiable), and everywhere in the trials where the user is a data
    manager (by subject code only: :func:`identifiable`); in ``trial`` only when given."""
    managed = data_manager_trials(user)
    if trial is not None:
        managed = managed.filter(trial=trial)
    return at_staff_sites(user, SITE_SCOPED_ROLES, trial) | Q(trial_id__in=managed)


def identifiable(user, record) -> bool:
    """Whether the user may see who ``record``'s subject is (initials, date of birth, identity): site staff
    and the monitor of its site; a data manager reads by code."""
    return has_site_role(user, record, SITE_SCOPED_ROLES)


def readable_subjects(user, trial: Trial | None = None):
    """Subjects whose records the user may read (:func:`readable`)."""
    from subjects.models import Subject

    queryset = Subject.objects.filter(readable(user, trial))
    if trial is not None:
        queryset = queryset.filter(trial=trial)
    return queryset.select_related("trial", "site", "dose_level", "cohort")


def has_site_role(user, record, roles=SITE_ROLES) -> bool:
    """Whether the user holds one of ``roles`` in the trial and at the site of ``record`` (a subject,
    a screening record: anything with ``trial_id`` and ``site_id``)."""
    roles = [roles] if isinstance(roles, str) else roles
    return Membership.objects.filter(user=user, trial_id=record.trial_id, site_id=record.site_id,
                                     role__in=roles).exists()


def require_site_role(user, record, roles=SITE_ROLES, message="Your role at this site does not allow this."):
    if not has_site_role(user, record, roles):
        raise PermissionDenied(message)


def subjects_for(user, trial: Trial | None = None, roles=SITE_ROLES):
    """Subjects at the (trial, site) pairs where the user is a coordinator or an investigator (or holds
    one of ``roles``: SITE_SCOPED_ROLES for the read-only pages a site's monitor reads too)."""
    from subjects.models import Subject

    queryset = Subject.objects.filter(at_staff_sites(user, roles, trial))
    if trial is not None:
        queryset = queryset.filter(trial=trial)
    return queryset.select_related("trial", "site", "dose_level", "cohort")


def access_subject(user, pk: int, roles=SITE_ROLES):
    """A subject the user may see (site staff and the monitor of its site; 404 otherwise) and holds one of
    ``roles`` at its site (403 otherwise: a monitor reads only where ``roles`` is SITE_SCOPED_ROLES)."""
    from subjects.models import Subject

    try:
        subject = subjects_for(user, roles=SITE_SCOPED_ROLES).get(pk=pk)
    except Subject.DoesNotExist:
        raise Http404("No such subject") from None
    require_site_role(user, subject, roles)
    return subject


def access_decision(user, pk: int):
    from escalation.models import EscalationDecision

    try:
        decision = EscalationDecision.objects.select_related("trial", "cohort__dose_level").get(
            pk=pk, trial__in=trials_for(user)
        )
    except EscalationDecision.DoesNotExist:
        raise Http404("No such decision") from None
    return decision


def is_sponsor_only(user, trial: Trial) -> bool:
    roles = roles_in(user, trial)
    return Role.SPONSOR in roles and not roles & set(SITE_ROLES)


def visits_for(user, trial: Trial | None = None, roles=SITE_ROLES):
    """Planned visits of the subjects the user may see (site staff at their sites, or ``roles``)."""
    from visits.models import PlannedVisit

    return PlannedVisit.objects.filter(subject__in=subjects_for(user, trial, roles).values("pk"))


def access_visit(user, pk: int, roles=SITE_ROLES):
    """A visit of a subject the user may see (404 otherwise); for writes, one of ``roles`` at its site."""
    from visits.models import PlannedVisit

    try:
        visit = visits_for(user, roles=SITE_SCOPED_ROLES).select_related("subject__trial", "subject__site").get(pk=pk)
    except PlannedVisit.DoesNotExist:
        raise Http404("No such visit") from None
    require_site_role(user, visit.subject, roles)
    return visit


def access_screening(user, pk: int, roles=SITE_ROLES):
    """A screening record at a site where the user is site staff or the monitor of the trial (404
    otherwise); the user needs one of ``roles`` there (403)."""
    from screening.models import ScreeningRecord

    try:
        record = (ScreeningRecord.objects.filter(at_staff_sites(user, SITE_SCOPED_ROLES))
                  .select_related("trial", "site").get(pk=pk))
    except ScreeningRecord.DoesNotExist:
        raise Http404("No such screening record") from None
    require_site_role(user, record, roles)
    return record
