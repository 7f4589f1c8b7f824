"""Best overall response (BOR) from a subject's per-time-point overall responses, as pharmaverse admiralonco
derives it. Pure Python, standard library only: the endpoint pages and the subject page call it.

Two derivations, chosen by :attr:`BorOptions.confirmed`:

- **Confirmed** (``derive_param_confirmed_bor()``; RECIST 1.1 §4.4.1 for single-arm trials), and
- **unconfirmed** (``derive_param_bor()``).

Source read: pharmaverse/admiralonco ``R/derive_param_confirmed_bor.R`` and ``R/derive_param_bor.R`` at commit
370156eb0dbc47d75811bfe9a646c40af77c910a, with admiral's ``filter_joined()`` (which the confirmation uses), and
the admiralonco 1.4.0 reference pages, whose "Details" and example output say the same.

Confirmed BOR (``derive_param_confirmed_bor``)
----------------------------------------------
Every assessment (sorted by date) yields candidate records; the best candidate wins, in admiralonco's order
CR, PR, SD, NON-CR/NON-PD, PD, NE, MISSING; among equal candidates the earliest date wins (``filter_extreme(order
= exprs(tmp_order, ADT), mode = "first")``). The candidates:

- **CR**: a CR whose *confirmation period* ends in a CR at least ``ref_confirm`` days later, with only CR or NE
  in the period and at most ``max_nr_ne`` NE.
- **PR**: a PR whose confirmation period ends in a CR or PR at least ``ref_confirm`` days later, with only
  CR, PR, SD or NE in the period, at most ``max_nr_ne`` NE, at most one SD if ``accept_sd`` (else none), and no PR
  after a CR in the period.
- **SD**: a CR, PR or SD assessed on or after ``first_dose + ref_start_window`` days. So an unconfirmed PR counts as
  SD, dated the day of the PR.
- **NON-CR/NON-PD**: a NON-CR/NON-PD on or after ``first_dose + ref_start_window``. It ranks below SD and above PD.
- **PD**: any PD.
- **NE**: an NE, or a CR, PR, SD or NON-CR/NON-PD assessed *before* ``first_dose + ref_start_window``.

The confirmation period (admiral ``filter_joined(join_type = "after", first_cond = ...)``) is every later
assessment up to and including the *first* one that could confirm: the right response and at least
``ref_confirm`` days later. Only that first one is tried. If it does not confirm, no later one is tried.
The period's checks run on every assessment in it, the confirming one included.

Unconfirmed BOR (``derive_param_bor``)
--------------------------------------
Each CR, PR and PD counts as itself whatever its date. SD and NON-CR/NON-PD count only on or after
``first_dose + ref_start_window`` and are NE before. Same order, earliest date among equals.

Both
----
- ``until_first_pd`` is admiralonco's ``source_pd`` / ``filter_pd()``. Only the assessments up to and including
  the first PD count. A subject without PD keeps all of them.
- **MISSING** only when no assessment counts: a subject with only NE or too-early assessments has BOR **NE**
  (admiralonco's ``missing_as_ne = FALSE``).
- One assessment per date. admiralonco requires the assessment date to be a unique key per subject after the
  PD restriction, and TrialSite stores one per day. Two assessments on one date are refused.
- Accepted responses: :data:`RESPONSES`. admiralonco also accepts ``"ND"`` (not done, ranking between NE and
  MISSING); this module does not, because TrialSite records no ND time point.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

RESPONSES = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")  # per-time-point overall responses accepted
MISSING = "MISSING"
NON_CR_NON_PD = "NON-CR/NON-PD"

# admiralonco's ``tmp_order``: lower is better; MISSING (8 in the confirmed, 999 in the unconfirmed one) is last.
ORDER = {"CR": 1, "PR": 2, "SD": 3, NON_CR_NON_PD: 4, "PD": 5, "NE": 6, MISSING: 8}


class BorInputError(ValueError):
    """Input the derivation cannot take: an unknown response, a value that is not a date, two assessments on one
    date, an option out of range. The message names the field and the value."""


@dataclass(frozen=True)
class Assessment:
    """One post-baseline time point: the scan date and its overall response (one of :data:`RESPONSES`)."""

    date: date
    response: str


@dataclass(frozen=True)
class BorOptions:
    """admiralonco's arguments.

    - ``ref_start_window``: days after the first dose from which SD and NON-CR/NON-PD count
      (``ADT >= reference_date + ref_start_window``: that day itself counts).
    - ``ref_confirm``: minimum days from a CR/PR to its confirming assessment (``ADT.join >= ADT + ref_confirm``).
    - ``max_nr_ne``: NE assessments accepted in a confirmation period.
    - ``accept_sd``: one SD accepted in a PR's confirmation period.
    - ``confirmed``: ``derive_param_confirmed_bor`` (True) or ``derive_param_bor`` (False; the three options
      above are then not used).
    - ``until_first_pd``: only the assessments up to and including the first PD (``source_pd``).
    """

    ref_start_window: int
    ref_confirm: int = 28
    max_nr_ne: int = 1
    accept_sd: bool = False
    confirmed: bool = True
    until_first_pd: bool = False

    def __post_init__(self) -> None:
        # admiralonco: assert_integer_scalar(..., subset = "non-negative"), assert_logical_scalar(...)
        for name in ("ref_start_window", "ref_confirm", "max_nr_ne"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise BorInputError(f"BorOptions.{name}: expected a whole number, got {value!r}")
            if value < 0:
                raise BorInputError(f"BorOptions.{name}: must be 0 or more, got {value}")
        for name in ("accept_sd", "confirmed", "until_first_pd"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise BorInputError(f"BorOptions.{name}: expected True or False, got {value!r}")


@dataclass(frozen=True)
class Bor:
    """The best overall response.

    ``bor`` is one of :data:`RESPONSES` or ``"MISSING"``. ``date`` is the date of the assessment that made it,
    admiralonco's ADT of the BOR record: for a confirmed response the response, not the confirmation; for SD that
    came from an unconfirmed PR, the PR's date; None when MISSING. ``evidence`` holds that assessment, followed by
    the confirming one for a confirmed CR or PR. ``reason`` says the same in plain words.
    """

    bor: str
    date: date | None
    evidence: tuple[Assessment, ...]
    reason: str


# Validation --------------------------------------------------------------------------------------------------

def _check_date(field: str, value: object) -> date:
    # datetime is a subclass of date but does not compare with one: refuse it rather than guess the day.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise BorInputError(f"{field}: expected a date, got {type(value).__name__} {value!r}")
    return value


def _checked(assessments: Iterable[Assessment]) -> list[Assessment]:
    """The assessments, checked and sorted by date (admiralonco orders by ADT). The sort is stable."""
    if isinstance(assessments, (str, bytes)) or not isinstance(assessments, Iterable):
        raise BorInputError(f"assessments: expected a sequence of Assessment, got {type(assessments).__name__}")
    items = list(assessments)
    for i, a in enumerate(items):
        if not isinstance(a, Assessment):
            raise BorInputError(f"assessments[{i}]: expected an Assessment, got {type(a).__name__} {a!r}")
        _check_date(f"assessments[{i}].date", a.date)
        if not isinstance(a.response, str) or a.response not in RESPONSES:
            raise BorInputError(
                f"assessments[{i}].response: unknown response {a.response!r} on {a.date} "
                f"(accepted: {', '.join(RESPONSES)})")
    return sorted(items, key=lambda a: a.date)


def _check_one_per_date(seq: Sequence[Assessment]) -> None:
    for earlier, later in pairwise(seq):
        if earlier.date == later.date:
            raise BorInputError(
                f"assessments: two on {later.date} ({earlier.response}, {later.response}); admiralonco needs one "
                "overall response per assessment date")


# Public functions --------------------------------------------------------------------------------------------

def first_progression(assessments: Sequence[Assessment]) -> date | None:
    """The date of the first PD time point, or None (the ``source_pd`` date when PD comes from these
    assessments)."""
    return next((a.date for a in _checked(assessments) if a.response == "PD"), None)


def best_overall_response(assessments: Sequence[Assessment], first_dose: date, options: BorOptions) -> Bor:
    """The subject's best overall response, as ``derive_param_confirmed_bor()`` (``options.confirmed``) or
    ``derive_param_bor()`` derive it, with ``first_dose`` as admiralonco's ``reference_date``."""
    seq = _checked(assessments)
    _check_date("first_dose", first_dose)
    if not isinstance(options, BorOptions):
        raise BorInputError(f"options: expected BorOptions, got {type(options).__name__}")
    dropped = ""
    if options.until_first_pd:
        pd = next((a.date for a in seq if a.response == "PD"), None)
        if pd is not None:
            after = sum(1 for a in seq if a.date > pd)
            seq = [a for a in seq if a.date <= pd]
            if after:
                dropped = f"; {after} assessment{'s' if after > 1 else ''} after the first PD on {pd} not counted"
    _check_one_per_date(seq)
    if not seq:
        return Bor(MISSING, None, (), "no assessment")
    found = _confirmed(seq, first_dose, options) if options.confirmed else _unconfirmed(seq, first_dose, options)
    best = min(found, key=lambda c: (ORDER[c.bor], c.date))
    return Bor(best.bor, best.date, best.evidence, best.reason + dropped)


# Derivation --------------------------------------------------------------------------------------------------

def _since_dose(day: date, first_dose: date) -> str:
    n = (day - first_dose).days
    if n == 0:
        return "on the day of the first dose"
    if n < 0:
        return f"{-n} day{'s' if n < -1 else ''} before the first dose"
    return f"{n} day{'s' if n > 1 else ''} after the first dose"


def _counts_from(first_dose: date, options: BorOptions) -> date:
    """The first day SD and NON-CR/NON-PD count: ``reference_date + ref_start_window``."""
    return first_dose + timedelta(days=options.ref_start_window)


def _late(a: Assessment, first_dose: date, options: BorOptions) -> str:
    return f"{_since_dose(a.date, first_dose)} (≥ {options.ref_start_window})"


def _early(a: Assessment, first_dose: date, options: BorOptions) -> str:
    return f"{_since_dose(a.date, first_dose)} (fewer than {options.ref_start_window}): counts as NE"


def _confirmation(seq: Sequence[Assessment], i: int, options: BorOptions) -> tuple[Assessment | None, str]:
    """Whether the CR or PR ``seq[i]`` is confirmed: (the confirming assessment, the reason), or (None, why not).

    admiral ``filter_joined(join_type = "after", first_cond = <confirming response> & ADT.join >= ADT +
    ref_confirm)``: the period is every later assessment up to and including the first that could confirm. The
    filter then checks the whole period, the confirming assessment included.
    """
    start = seq[i]
    is_cr = start.response == "CR"
    confirming = ("CR",) if is_cr else ("CR", "PR")
    allowed = ("CR", "NE") if is_cr else ("CR", "PR", "SD", "NE")
    due = start.date + timedelta(days=options.ref_confirm)
    period: list[Assessment] = []
    for later in seq[i + 1:]:
        period.append(later)
        if later.response in confirming and later.date >= due:
            break
    else:
        return None, f"no {' or '.join(confirming)} {options.ref_confirm} or more days later"
    confirm = period[-1]
    where = f"before the {confirm.response} on {confirm.date}"
    other = next((a for a in period if a.response not in allowed), None)
    if other is not None:
        return None, f"{other.response} on {other.date} {where}"
    ne = sum(1 for a in period if a.response == "NE")
    if ne > options.max_nr_ne:
        return None, f"{ne} NE {where}, at most {options.max_nr_ne} allowed"
    sd = sum(1 for a in period if a.response == "SD")
    if not is_cr:
        if sd > (1 if options.accept_sd else 0):
            if options.accept_sd:
                return None, f"{sd} SD {where}, at most 1 allowed with accept_sd"
            first_sd = next(a for a in period if a.response == "SD")
            return None, f"SD on {first_sd.date} {where}, no SD allowed without accept_sd"
        crs = [a.date for a in period if a.response == "CR"]
        prs = [a.date for a in period if a.response == "PR"]
        # min_cond(CR) > max_cond(PR) | no CR | no PR: no PR after a CR in the period.
        if crs and prs and not min(crs) > max(prs):
            return None, f"PR on {max(prs)} after the CR on {min(crs)}, within the confirmation period"
    days = (confirm.date - start.date).days
    reason = f"{start.response} on {start.date} confirmed by {confirm.response} on {confirm.date} " \
             f"({days} days ≥ {options.ref_confirm})"
    if ne:
        reason += f"; {ne} NE between (at most {options.max_nr_ne})"
    if sd:
        reason += "; 1 SD between (accept_sd)"
    return confirm, reason


def _confirmed(seq: Sequence[Assessment], first_dose: date, options: BorOptions) -> Iterator[Bor]:
    """The candidate records of ``derive_param_confirmed_bor()`` (cr_data … ne_data)."""
    counts_from = _counts_from(first_dose, options)
    for i, a in enumerate(seq):
        r = a.response
        why_not = ""
        if r in ("CR", "PR"):
            confirm, text = _confirmation(seq, i, options)
            if confirm is not None:
                yield Bor(r, a.date, (a, confirm), text)
            else:
                why_not = f"{r} on {a.date} not confirmed ({text})"
        if r in ("CR", "PR", "SD") and a.date >= counts_from:
            if why_not:
                reason = f"{why_not}; counts as SD: {_late(a, first_dose, options)}"
            else:
                reason = f"{r} on {a.date}, {_late(a, first_dose, options)}"
                if r != "SD":
                    reason += ": counts as SD"
            yield Bor("SD", a.date, (a,), reason)
        if r == NON_CR_NON_PD and a.date >= counts_from:
            yield Bor(r, a.date, (a,), f"{r} on {a.date}, {_late(a, first_dose, options)}")
        if r == "PD":
            yield Bor(r, a.date, (a,), f"PD on {a.date}; no assessment counts as CR, PR, SD or NON-CR/NON-PD")
        if r == "NE":
            yield Bor(r, a.date, (a,), f"NE on {a.date}")
        elif r in ("CR", "PR", "SD", NON_CR_NON_PD) and a.date < counts_from:
            lead = why_not or f"{r} on {a.date}"
            yield Bor("NE", a.date, (a,), f"{lead}, {_early(a, first_dose, options)}")


def _unconfirmed(seq: Sequence[Assessment], first_dose: date, options: BorOptions) -> Iterator[Bor]:
    """The records of ``derive_param_bor()``: SD and NON-CR/NON-PD before the window become NE."""
    counts_from = _counts_from(first_dose, options)
    for a in seq:
        r = a.response
        if r in ("CR", "PR"):
            yield Bor(r, a.date, (a,), f"{r} on {a.date} (unconfirmed)")
        elif r in ("SD", NON_CR_NON_PD):
            if a.date >= counts_from:
                yield Bor(r, a.date, (a,), f"{r} on {a.date}, {_late(a, first_dose, options)}")
            else:
                yield Bor("NE", a.date, (a,), f"{r} on {a.date}, {_early(a, first_dose, options)}")
        elif r == "PD":
            yield Bor(r, a.date, (a,), f"PD on {a.date}; no assessment counts as CR, PR, SD or NON-CR/NON-PD")
        else:
            yield Bor(r, a.date, (a,), f"NE on {a.date}")
