"""``{% cohort_state cohort %}``: a cohort's state in words, open or why not (issue 8, point 12)."""

from __future__ import annotations

from django import template

from escalation.selectors import CohortState, cohort_state

register = template.Library()


@register.inclusion_tag("escalation/_cohort_state.html")
def cohort_state_of(cohort_or_state):
    """Render a cohort (or an already computed :class:`CohortState`)."""
    state = cohort_or_state if isinstance(cohort_or_state, CohortState) else cohort_state(cohort_or_state)
    return {"state": state}
