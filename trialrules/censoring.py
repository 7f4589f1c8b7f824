"""Time-to-event derivations (PFS, OS, duration of response) with the FDA's PFS censoring situations.

Pure Python, standard library only (no Django): ``response.selectors`` builds one :class:`SubjectFacts` per
treated subject from what TrialSite records and reads one :class:`TimeToEvent` per endpoint; the Kaplan–Meier
curves (:mod:`trialrules.survival`) take ``days`` and ``event``. docs/censoring.md says the same in plain words.

Source
------
FDA, *Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics*, Guidance for Industry,
December 2018 (docket FDA-2005-D-0225; it replaces the May 2007 guidance of the same title), its table of PFS
censoring situations (situation, date of progression or censoring, outcome). The 2007 guidance's Appendix 3
(Table A) and its section on the analysis of PFS say the two things the rules below lean on: progression is
dated at the first time it was noted, deaths after two or more missed visits are censored at the last visit,
and an *adequate assessment visit* is one at which all scheduled tumour assessments were done. The rows, as
implemented (``X`` is the reference start, the first dose; for DoR the first documented response):

==========================================================  =======================================  ========
Situation                                                   Date                                     Outcome
==========================================================  =======================================  ========
No post-baseline adequate assessment, no progression or     X (day 1)                                censored
death
Progression documented on or between scheduled assessments  date of progression                      event
No progression                                              last adequate assessment                 censored
New anti-cancer therapy started before progression          last adequate assessment on or before    censored
                                                            the start of the new therapy
Death or progression after more than ``missed_allowed``     last adequate assessment before the      censored
missed assessments                                          missed ones (X if none)
Death before first PD assessment                            date of death                            event
Death between adequate assessments                          date of death                            event
==========================================================  =======================================  ========

Decisions (each is documented in docs/censoring.md)
---------------------------------------------------
- **Adequate assessment** = a post-baseline overall response other than NE. TrialSite records one overall
  response per scan (RECIST 1.1); NE is what RECIST gives a time point that could not be fully assessed, the
  FDA's "not all scheduled tumour assessments done". PD is adequate.
- **Baseline**: assessments dated on or before ``start`` are the baseline: they are never an adequate
  post-baseline assessment, and a PD among them is not a progression. (TrialSite does not pass its baseline
  scan at all; an entry on the day of the first dose is taken as the pre-dose scan.) Assessments are given in
  any order; two on one date are refused (TrialSite stores one per day).
- **Progression date** = the earlier of ``progression`` and the first post-baseline PD assessment (the FDA's
  "first time progression was noted"): a clinical progression between scans counts from its own date.
- **Missed assessments**: counted from the last adequate assessment before the event (``start`` when there is
  none): one scheduled every ``assessment_interval_days``, each with ``visit_window_days`` of lateness
  allowed. A scheduled assessment is missed when its window closed before the event without an adequate
  assessment (NE counts as missed). More than ``missed_allowed`` missed, i.e. an event more than
  ``(missed_allowed + 1) × interval + window`` days after that assessment, is censored there. This is how
  "death or progression after more than one missed visit" (``missed_allowed = 1``) is read; the schedule is
  counted from the last adequate scan rather than from the protocol's calendar, so an early or late scan
  shifts the next expected one with it.
- **New therapy on the day of a progression or death**: the event counts (the progression was documented
  before the new therapy could act: the scan precedes the first administration). Assessments on the day the
  new therapy starts are "before" it. A new therapy strictly before the event censors.
- **No baseline tumour assessment** (the FDA's first row) cannot be told from these facts (no field says
  whether a baseline scan exists); the caller leaves such a subject out or gives it no assessments.
- **OS**: death is an event at its date whatever the missed assessments; otherwise censored at the latest date
  the subject is known alive among ``start``, ``last_known_alive``, every assessment (NE included),
  ``progression``, ``new_therapy`` and ``response_start``. ``lost_or_withdrawn`` is *not* taken as a date known
  alive (the recorded end of follow-up of a subject lost may postdate the last contact); it is named in the rule.
- **DoR**: from ``response_start`` (which must be the date of a post-baseline CR or PR assessment, before the
  progression) to progression or death, with the PFS rules counted from it: the response assessment is the
  first adequate one. A new therapy started before the response is refused for DoR (a response after a new
  anti-cancer therapy is not the study treatment's).
- **Days** (``Rules.day_one``, default True): ``end − start + 1``, so the start day is day 1 and a subject
  censored at the start has 1 day, as admiral's ``derive_vars_duration(add_one = TRUE)`` (its default, used for
  ``AVAL`` in admiralonco's ADTTE) and SAS study-day arithmetic. ``day_one = False`` gives ``end − start``.
- **Bad facts** raise :class:`CensoringInputError` (a ``ValueError``) naming the field: a value that is not a
  date (a ``datetime`` is refused rather than truncated), an unknown response, a death, progression, new
  therapy, last known alive or end of follow-up before ``start``; an assessment, a progression, a new therapy or
  a last-known-alive date after the death. The facts are checked as a whole whichever endpoint is asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from trialrules.bor import RESPONSES

ENDPOINTS = ("PFS", "OS", "DOR")
NOT_ADEQUATE = "NE"
RESPONDED = ("CR", "PR")

# The situations, as the rule text of a TimeToEvent begins (FDA 2018 table, docs/censoring.md).
NO_ADEQUATE = "No post-baseline adequate assessment and no progression or death"
PROGRESSION = "Progression documented on or between scheduled assessments"
NO_PROGRESSION = "No progression"
NEW_THERAPY = "New anti-cancer therapy started before progression"
MISSED = "Death or progression after missed assessments"
DEATH_BEFORE_FIRST = "Death before first PD assessment"
DEATH_BETWEEN = "Death between adequate assessments"
DEATH = "Death"
ALIVE = "Alive at the last contact"
SITUATIONS = (NO_ADEQUATE, PROGRESSION, NO_PROGRESSION, NEW_THERAPY, MISSED, DEATH_BEFORE_FIRST, DEATH_BETWEEN,
              DEATH, ALIVE)
# The PFS/DoR situations' numbers in docs/censoring.md's table; the rule text says "(situation n)".
NUMBERS = {NO_ADEQUATE: 1, PROGRESSION: 2, NO_PROGRESSION: 3, NEW_THERAPY: 4, DEATH_BEFORE_FIRST: 5,
           DEATH_BETWEEN: 6, MISSED: 7}


class CensoringInputError(ValueError):
    """Facts or rules the derivation cannot take; the message names the field, the value and the subject."""


@dataclass(frozen=True)
class SubjectFacts:
    """What one treated subject's record says, as dates. ``assessments`` are (date, overall response) pairs,
    responses as :data:`trialrules.bor.RESPONSES`, in any order; the ones on or before ``start`` are baseline."""

    subject: str
    start: date                                 # reference start: first dose date
    assessments: tuple[tuple[date, str], ...] = ()  # tumour assessments (date, overall response), any order
    progression: date | None = None             # first documented progression (radiological or clinical)
    death: date | None = None
    last_known_alive: date | None = None
    new_therapy: date | None = None             # start of new anti-tumour therapy
    response_start: date | None = None          # first documentation of (confirmed) CR/PR, for DoR
    lost_or_withdrawn: date | None = None       # date follow-up ended for loss/withdrawal (rule text only)


@dataclass(frozen=True)
class TimeToEvent:
    """One endpoint of one subject: ``days`` from ``start`` to ``end`` (see :class:`Rules`), ``event`` True for
    a progression or death, False when censored, and ``rule``: the situation applied, in words, beginning with
    one of :data:`SITUATIONS`."""

    subject: str
    endpoint: str   # "PFS" | "OS" | "DOR"
    start: date
    end: date
    days: int
    event: bool
    rule: str


@dataclass(frozen=True)
class Rules:
    """The protocol's censoring parameters.

    - ``assessment_interval_days``: the scheduled interval between tumour assessments (BAT6005: 42).
    - ``missed_allowed``: scheduled assessments that may be missed before a death or progression is censored at
      the last adequate assessment (FDA: "more than one missed visit" censors, so 1).
    - ``visit_window_days``: how late a scheduled assessment may be done and still not count as missed (0: an
      assessment is missed as soon as its day passes).
    - ``day_one``: ``days = end − start + 1`` (True, the ADaM/SAS convention) or ``end − start`` (False).
    """

    assessment_interval_days: int = 42
    missed_allowed: int = 1
    day_one: bool = True
    visit_window_days: int = 0

    def __post_init__(self) -> None:
        for name, least in (("assessment_interval_days", 1), ("missed_allowed", 0), ("visit_window_days", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise CensoringInputError(f"{name}: expected a whole number, got {value!r}")
            if value < least:
                raise CensoringInputError(f"{name}: must be at least {least}, got {value}")
        if not isinstance(self.day_one, bool):
            raise CensoringInputError(f"day_one: expected True or False, got {self.day_one!r}")


# Checking the facts ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Facts:
    """The facts once checked: post-baseline assessments sorted, and the progression date in effect."""

    raw: SubjectFacts
    post: tuple[tuple[date, str], ...]
    progression: date | None
    progression_from: str   # what gave the progression date, in words


def _date(facts: SubjectFacts, field: str, value: object, optional: bool = True) -> date | None:
    if value is None and optional:
        return None
    # datetime is a subclass of date but does not compare with one: refuse it rather than guess the day.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise CensoringInputError(f"{field}: expected a date, got {type(value).__name__} {value!r}"
                                  f"{_who(facts)}")
    return value


def _who(facts: SubjectFacts) -> str:
    return f" (subject {facts.subject!r})"


def _check(facts: SubjectFacts) -> _Facts:
    if not isinstance(facts, SubjectFacts):
        raise CensoringInputError(f"facts: expected SubjectFacts, got {type(facts).__name__}")
    if not isinstance(facts.subject, str) or not facts.subject.strip():
        raise CensoringInputError(f"subject: expected a non-empty identifier, got {facts.subject!r}")
    start = _date(facts, "start", facts.start, optional=False)
    if isinstance(facts.assessments, (str, bytes)) or not isinstance(facts.assessments, Sequence):
        raise CensoringInputError(f"assessments: expected a sequence of (date, response) pairs, got "
                                  f"{type(facts.assessments).__name__}{_who(facts)}")
    seen: dict[date, int] = {}
    items: list[tuple[date, str]] = []
    for i, item in enumerate(facts.assessments):
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
            raise CensoringInputError(f"assessments[{i}]: expected a (date, response) pair, got {item!r}"
                                      f"{_who(facts)}")
        day = _date(facts, f"assessments[{i}] date", item[0], optional=False)
        response = item[1]
        if not isinstance(response, str) or response not in RESPONSES:
            raise CensoringInputError(f"assessments[{i}] response: unknown response {response!r} on {day} "
                                      f"(accepted: {', '.join(RESPONSES)}){_who(facts)}")
        if day in seen:
            raise CensoringInputError(f"assessments[{i}]: a second assessment on {day} (assessments[{seen[day]}] "
                                      f"is on the same date); one overall response per date{_who(facts)}")
        seen[day] = i
        items.append((day, response))

    dates = {name: _date(facts, name, getattr(facts, name)) for name in
             ("progression", "death", "last_known_alive", "new_therapy", "response_start", "lost_or_withdrawn")}
    for name, value in dates.items():
        if value is not None and value < start:
            raise CensoringInputError(f"{name}: {value} is before start {start}{_who(facts)}")

    death = dates["death"]
    if death is not None:
        for i, (day, response) in enumerate(items):
            if day > death:
                raise CensoringInputError(f"assessments[{i}]: {response} on {day} is after death on {death}"
                                          f"{_who(facts)}")
        for name in ("progression", "last_known_alive", "new_therapy"):
            value = dates[name]
            if value is not None and value > death:
                raise CensoringInputError(f"{name}: {value} is after death on {death}{_who(facts)}")

    post = tuple(sorted((a for a in items if a[0] > start), key=lambda a: a[0]))
    first_pd = next((day for day, response in post if response == "PD"), None)
    progression, source = dates["progression"], "progression"
    if first_pd is not None and (progression is None or first_pd < progression):
        progression, source = first_pd, "PD assessment"
    elif first_pd is not None and first_pd == progression:
        source = "PD assessment"

    response_start = dates["response_start"]
    if response_start is not None:
        if not any(day == response_start and response in RESPONDED for day, response in post):
            raise CensoringInputError(f"response_start: {response_start} is not the date of a post-baseline CR or "
                                      f"PR assessment{_who(facts)}")
        if progression is not None and response_start >= progression:
            raise CensoringInputError(f"response_start: {response_start} is not before the progression on "
                                      f"{progression}{_who(facts)}")
    return _Facts(facts, post, progression, source)


# The derivations ---------------------------------------------------------------------------------------------

def _result(facts: SubjectFacts, endpoint: str, start: date, end: date, event: bool, rule: str,
            rules: Rules) -> TimeToEvent:
    days = (end - start).days + (1 if rules.day_one else 0)
    return TimeToEvent(facts.subject, endpoint, start, end, days, event, rule)


def _rules(rules: Rules) -> Rules:
    if not isinstance(rules, Rules):
        raise CensoringInputError(f"rules: expected Rules, got {type(rules).__name__}")
    return rules


def _lost(facts: SubjectFacts) -> str:
    return (f"; follow-up ended on {facts.lost_or_withdrawn} (lost to follow-up or withdrawn)"
            if facts.lost_or_withdrawn is not None else "")


def _say(situation: str, text: str) -> str:
    """The rule text: the situation, its number in the table, what happened."""
    return f"{situation} (situation {NUMBERS[situation]}): {text}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _until_event(checked: _Facts, endpoint: str, origin: date, origin_words: str, rules: Rules) -> TimeToEvent:
    """The FDA table from `origin` (start for PFS, the response for DoR): the event, or where it is censored."""
    facts = checked.raw
    adequate = [day for day, response in checked.post if response != NOT_ADEQUATE and day >= origin]
    progression, death, new_therapy = checked.progression, facts.death, facts.new_therapy
    events = [d for d in (progression, death) if d is not None]
    event_day = min(events) if events else None

    def at(day: date | None) -> str:
        return origin_words if day is None or day == origin else f"the last adequate assessment on {day}"

    # Situation 4: a new therapy strictly before the event (or with no event) censors; on the event's day it
    # does not (the scan or the death came first). Assessments on the therapy's first day are before it.
    if new_therapy is not None and (event_day is None or new_therapy < event_day):
        last = max((d for d in adequate if d <= new_therapy), default=None)
        before = "" if event_day is None else f", before the progression or death on {event_day}"
        rule = _say(NEW_THERAPY, f"new anti-cancer therapy started on {new_therapy}{before}: "
                                 f"censored at {at(last)}{_lost(facts)}")
        return _result(facts, endpoint, origin, last or origin, False, rule, rules)

    if event_day is not None:
        what = ("progression and death" if progression == death == event_day
                else "progression" if event_day == progression else "death")
        last = max((d for d in adequate if d < event_day), default=None)
        reference = last or origin
        gap = (event_day - reference).days
        interval, window = rules.assessment_interval_days, rules.visit_window_days
        # Scheduled assessments k = 1, 2, ... at reference + k * interval, each missed once its window
        # (+ window days) closed before the event: k * interval + window < gap.
        missed = max(0, (gap - window - 1) // interval)
        if missed > rules.missed_allowed:  # situation 7
            late = f", {window} days late allowed" if window else ""
            rule = _say(MISSED, f"{what} on {event_day} is {gap} days after {at(last)}: "
                                f"{_plural(missed, 'scheduled assessment')} missed (one every {interval} days{late}; "
                                f"{rules.missed_allowed} allowed): censored at {at(last)}")
            return _result(facts, endpoint, origin, reference, False, rule, rules)
        if what == "death":  # situations 5 and 6
            rule = _say(DEATH_BETWEEN if last is not None else DEATH_BEFORE_FIRST, f"event at death on {event_day}")
        else:  # situation 2
            where = ("at the PD assessment" if checked.progression_from == "PD assessment"
                     else "between scheduled assessments (not on an assessment date)")
            rule = _say(PROGRESSION, f"event at {what} on {event_day}, {where}")
        if new_therapy == event_day:
            rule += "; the new anti-cancer therapy started that day counts as after it"
        return _result(facts, endpoint, origin, event_day, True, rule, rules)

    last = adequate[-1] if adequate else None
    if last is None:  # situation 1
        return _result(facts, endpoint, origin, origin, False,
                       _say(NO_ADEQUATE, f"censored at {origin_words}{_lost(facts)}"), rules)
    # Situation 3 (for DoR the response itself is the first adequate assessment).
    return _result(facts, endpoint, origin, last, False,
                   _say(NO_PROGRESSION, f"censored at {at(last)}{_lost(facts)}"), rules)


def pfs(facts: SubjectFacts, rules: Rules = Rules()) -> TimeToEvent:
    """Progression-free survival from the first dose to progression or death, censored as the FDA 2018 table
    (module docstring)."""
    checked, rules = _check(facts), _rules(rules)
    return _until_event(checked, "PFS", facts.start, f"start {facts.start} (day 1)", rules)


def overall_survival(facts: SubjectFacts, rules: Rules = Rules()) -> TimeToEvent:
    """Overall survival from the first dose: death is an event at its date; otherwise censored at the latest
    date the subject is known alive (start, last_known_alive, any assessment, progression, new therapy,
    response)."""
    checked, rules = _check(facts), _rules(rules)
    if facts.death is not None:
        return _result(facts, "OS", facts.start, facts.death, True, f"{DEATH}: event on {facts.death}", rules)
    known = [(facts.start, "start")]
    known += [(day, f"{response} assessment") for day, response in facts.assessments]
    for name in ("last_known_alive", "progression", "new_therapy", "response_start"):
        value = getattr(facts, name)
        if value is not None:
            known.append((value, name.replace("_", " ")))
    if checked.progression is not None:
        known.append((checked.progression, "progression"))
    latest = max(day for day, _ in known)
    sources = sorted({words for day, words in known if day == latest})
    rule = f"{ALIVE}: censored at the latest date known alive, {latest} ({', '.join(sources)}){_lost(facts)}"
    return _result(facts, "OS", facts.start, latest, False, rule, rules)


def duration_of_response(facts: SubjectFacts, rules: Rules = Rules()) -> TimeToEvent | None:
    """Duration of response from the first documented CR/PR (``response_start``) to progression or death, with
    the PFS censoring rules counted from the response; None for a subject without a response."""
    checked, rules = _check(facts), _rules(rules)
    origin = facts.response_start
    if origin is None:
        return None
    if facts.new_therapy is not None and facts.new_therapy < origin:
        raise CensoringInputError(
            f"new_therapy: {facts.new_therapy} is before response_start {origin}; a response after a new "
            f"anti-cancer therapy is not attributable to the study treatment (leave it out of the best overall "
            f"response){_who(facts)}")
    return _until_event(checked, "DOR", origin, f"the response on {origin} (day 1)", rules)
