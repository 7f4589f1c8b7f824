"""DLT criteria: which adverse events are proposed as DLTs, and which leave a subject's escalation
outcome open until a person has judged them.

Pure Python, standard library only. The callers (``subjects.services`` when an AE is recorded,
``escalation.selectors`` when the live evidence is built) pass plain values; the rule lives here
once.

The criteria assumed where a protocol gives none in detail (docs/coordinators.md): an AE with onset in
the DLT window (the local calendar day of the first dose to that day + ``dlt_window_days``), at least
possibly related to a drug of the regimen, of CTCAE grade >= ``dlt_min_grade`` (3 unless the
protocol's ``[escalation]`` says otherwise). Such an AE is *proposed*; only an investigator's
confirmation makes it a DLT.

Open questions (issue 8, point 1): an in-window AE that is proposed and not yet adjudicated, or of a
DLT-eligible grade with no attribution yet, could still turn the subject into a T (or, at an
accelerated-titration level, an unattributed grade >= 2 AE into a G). Until it is judged the subject
is *pending* for the engine, whose pending-outcome enumeration then records only a decision that no
judgement could change.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = [
    "ADJUDICATION",
    "ATTRIBUTION",
    "DEFAULT_MIN_GRADE",
    "TOX2_MIN_GRADE",
    "meets_dlt_criteria",
    "min_grade",
    "onset_in_window",
    "open_question",
    "study_day",
    "window",
]

DEFAULT_MIN_GRADE = 3
TOX2_MIN_GRADE = 2  # drug-related grade >= 2 ends accelerated titration (G)

ADJUDICATION = "adjudication"  # proposed as a DLT, not yet confirmed or rejected
ATTRIBUTION = "attribution"  # no attribution to the study drugs yet


def min_grade(escalation: dict | None) -> int:
    """The protocol's minimum DLT grade (``[escalation] dlt_min_grade``), 3 by default."""
    return int((escalation or {}).get("dlt_min_grade", DEFAULT_MIN_GRADE))


def window(first_dose_day: date, window_days: int) -> tuple[date, date]:
    """The DLT window as calendar days: the first dose's day to that day + ``window_days``."""
    return first_dose_day, first_dose_day + timedelta(days=window_days)


def onset_in_window(onset: date, first_dose_day: date | None, window_days: int) -> bool:
    if first_dose_day is None or not window_days:
        return False
    start, end = window(first_dose_day, window_days)
    return start <= onset <= end


def meets_dlt_criteria(*, grade: int, related: bool, in_window: bool, min_grade: int = DEFAULT_MIN_GRADE) -> bool:
    """Whether an AE is proposed as a DLT: in the window, at least possibly related, grade >= minimum."""
    return in_window and related and grade >= min_grade


def open_question(
    *, grade: int, attributed: bool, proposed: bool, in_window: bool, min_grade: int = DEFAULT_MIN_GRADE,
    tox2_matters: bool = False,
) -> str | None:
    """What a person must still judge before this AE's effect on escalation is known, or None.

    ``attributed`` is False while the attribution is "not yet assessed"; ``proposed`` is True while a
    proposed DLT awaits the investigator; ``tox2_matters`` at an accelerated-titration level, where a
    drug-related grade >= 2 AE (G) changes the next step too.
    """
    if not in_window:
        return None
    if proposed:
        return ADJUDICATION
    if not attributed and (grade >= min_grade or (tox2_matters and grade >= TOX2_MIN_GRADE)):
        return ATTRIBUTION
    return None


def study_day(on: date, first_dose_day: date) -> int:
    """Study day relative to the first dose (CDISC convention: the first dose's day is day 1, the day
    before it day -1; there is no day 0)."""
    delta = (on - first_dose_day).days
    return delta + 1 if delta >= 0 else delta
