"""Edit checks on saved data: the rules as data (``queries/edit_checks.toml``) and their evaluation.

Pure Python, standard library only. The entry-time plausibility checks (:mod:`trialrules.plausibility`)
refuse or ask to confirm a value as it is typed; these rules re-read what got saved — a soft finding
confirmed, an import, a correction, a change made outside the application — and each failure becomes a
data query on the record (docs/data-management.md, "Edit checks").

A rules file is a list of ``[[rule]]`` tables::

    [[rule]]
    code = "ae.resolution_before_onset"   # stable, unique: the query records it
    kind = "adverse-event"                # a record kind (records.registry slug)
    type = "order"                        # range | order | required
    fields = ["onset_date", "resolution_date"]
    message = "The resolution date is before the onset date."

- ``range``: ``fields = [path]`` with ``min`` and/or ``max`` (inclusive); a value outside fails, an empty
  one passes (``required`` says when a value must be there). A value that is not a number fails.
- ``order``: ``fields = [earlier, later]``; fails when both are given and the later one is before the
  earlier one (``strict = true``: also when they are equal). A date and a date-time compare by date.
- ``required``: ``fields = [path]``; fails when the value is empty.

Any rule may say ``when = {path = value | [values]}`` (all must hold) and ``unless = {...}`` (none may
hold) to apply to some records only. A *path* names a value of the record (``grade``), an item of one of
its JSON fields (``values.anc``) or a value the runner gives about the record's owner
(``subject.enrolled_on``: see ``queries/checks.py``). The queried ``field`` (the one the query points at)
is, unless given, the path's first part for ``range`` and ``required`` and the later field for ``order``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TYPES = ("range", "order", "required")
KEYS = {"code", "kind", "type", "fields", "field", "message", "min", "max", "strict", "when", "unless"}
MESSAGE_MAX = 300


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the rule and its key."""


@dataclass(frozen=True)
class Rule:
    code: str
    kind: str
    type: str
    fields: tuple[str, ...]
    message: str
    field: str
    min: Decimal | None = None
    max: Decimal | None = None
    strict: bool = False
    when: Mapping[str, tuple] = field(default_factory=dict)
    unless: Mapping[str, tuple] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    code: str
    field: str
    message: str
    value: str  # the value(s) that failed, as shown in the query (value_at_raise)


_MISSING = object()


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RulesError(f"{where}: a number is needed, not {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RulesError(f"{where}: a number is needed, not {value!r}") from None
    if not number.is_finite():
        raise RulesError(f"{where}: a number is needed, not {value!r}")
    return number


def _conditions(raw: Any, where: str) -> dict[str, tuple]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise RulesError(f"{where}: a table of path = value (or [values]) is needed")
    out = {}
    for path, value in raw.items():
        values = tuple(value) if isinstance(value, list) else (value,)
        if not values or any(isinstance(v, (dict, list)) for v in values):
            raise RulesError(f"{where}.{path}: a value or a list of values is needed")
        out[str(path)] = values
    return out


def parse_rule(raw: Any, index: int, *, kinds: Mapping[str, Iterable[str]] | None = None) -> Rule:
    """One ``[[rule]]`` table (``index``: its position, 1-based, for the messages). With ``kinds`` (record
    kind slug -> its fields) the kind and the queried field are checked too."""
    where = f"rule {index}"
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: a table is needed")
    code = raw.get("code")
    if not isinstance(code, str) or not code.strip():
        raise RulesError(f"{where}.code: a code (text) is needed")
    code = code.strip()
    where = f"rule {index} ({code})"
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise RulesError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(KEYS))})")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        raise RulesError(f"{where}.kind: a record kind is needed")
    if kinds is not None and kind not in kinds:
        raise RulesError(f"{where}.kind: {kind!r} is not a record kind ({', '.join(sorted(kinds))})")
    rule_type = raw.get("type")
    if rule_type not in TYPES:
        raise RulesError(f"{where}.type: {rule_type!r} is not one of {', '.join(TYPES)}")
    fields = raw.get("fields")
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise RulesError(f"{where}.fields: a list of field names is needed")
    wanted = 2 if rule_type == "order" else 1
    if len(fields) != wanted:
        raise RulesError(f"{where}.fields: a {rule_type} rule names {wanted} field{'s' if wanted > 1 else ''}, "
                         f"not {len(fields)}")
    message = raw.get("message")
    if not isinstance(message, str) or not message.strip():
        raise RulesError(f"{where}.message: the message the site reads is needed")
    if len(message) > MESSAGE_MAX:
        raise RulesError(f"{where}.message: keep it to {MESSAGE_MAX} characters")
    low = _number(raw["min"], f"{where}.min") if "min" in raw else None
    high = _number(raw["max"], f"{where}.max") if "max" in raw else None
    if rule_type == "range":
        if low is None and high is None:
            raise RulesError(f"{where}: a range rule needs min, max or both")
        if low is not None and high is not None and low > high:
            raise RulesError(f"{where}.min: {low} is above max {high}")
    elif low is not None or high is not None:
        raise RulesError(f"{where}.{'min' if low is not None else 'max'}: only a range rule has limits")
    strict = raw.get("strict", False)
    if not isinstance(strict, bool):
        raise RulesError(f"{where}.strict: true or false")
    if strict and rule_type != "order":
        raise RulesError(f"{where}.strict: only an order rule is strict")
    queried = raw.get("field")
    if queried is None:
        queried = (fields[1] if rule_type == "order" else fields[0]).split(".")[0]
    if not isinstance(queried, str) or not queried:
        raise RulesError(f"{where}.field: the field the query points at is needed")
    if kinds is not None and queried not in set(kinds[kind]):
        raise RulesError(f"{where}.field: {queried!r} is not a field of {kind} ({', '.join(kinds[kind])})")
    return Rule(code=code, kind=kind, type=rule_type, fields=tuple(fields), message=message.strip(),
                field=queried, min=low, max=high, strict=strict,
                when=_conditions(raw.get("when"), f"{where}.when"),
                unless=_conditions(raw.get("unless"), f"{where}.unless"))


def parse_rules(text: str, *, kinds: Mapping[str, Iterable[str]] | None = None) -> list[Rule]:
    """Every rule of a rules file (TOML text); :class:`RulesError` names the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"the rules file is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise RulesError(f"unknown top-level key {unknown[0]!r}: rules are [[rule]] tables")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise RulesError("rule: rules are [[rule]] tables")
    rules, seen = [], {}
    for index, raw in enumerate(raw_rules, start=1):
        rule = parse_rule(raw, index, kinds=kinds)
        if rule.code in seen:
            raise RulesError(f"rule {index} ({rule.code}).code: already used by rule {seen[rule.code]}")
        seen[rule.code] = index
        rules.append(rule)
    return rules


# --- evaluation ---------------------------------------------------------------------------------------


def lookup(values: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (``a.b`` reads item ``b`` of mapping ``a``); ``_MISSING`` when absent."""
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _empty(value: Any) -> bool:
    return value is _MISSING or value is None or value == "" or value == [] or value == {}


def _matches(values: Mapping[str, Any], conditions: Mapping[str, tuple]) -> bool:
    return all(lookup(values, path) in allowed for path, allowed in conditions.items())


def applies(rule: Rule, values: Mapping[str, Any]) -> bool:
    if rule.when and not _matches(values, rule.when):
        return False
    return not (rule.unless and any(lookup(values, path) in allowed for path, allowed in rule.unless.items()))


def show(value: Any) -> str:
    if _empty(value):
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _comparable(value: Any, other: Any) -> Any:
    """A date-time compared with a date compares by its date (the runner gives local date-times)."""
    if isinstance(value, datetime) and isinstance(other, date) and not isinstance(other, datetime):
        return value.date()
    return value


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def check(rule: Rule, values: Mapping[str, Any]) -> Finding | None:
    """The finding of ``rule`` on a record's ``values``, or None when the record passes (or the rule does
    not apply to it)."""
    if not applies(rule, values):
        return None
    if rule.type == "required":
        value = lookup(values, rule.fields[0])
        if not _empty(value):
            return None
        # What made it required (``outcome=recovered``): a person who closed the query accepted that.
        shown = "; ".join(f"{path}={show(lookup(values, path))}" for path in rule.when)
        return Finding(rule.code, rule.field, rule.message, shown)
    if rule.type == "range":
        value = lookup(values, rule.fields[0])
        if _empty(value):
            return None
        number = _as_number(value)
        if number is None or (rule.min is not None and number < rule.min) or (
                rule.max is not None and number > rule.max):
            return Finding(rule.code, rule.field, rule.message, show(value))
        return None
    first, second = (lookup(values, path) for path in rule.fields)
    if _empty(first) or _empty(second):
        return None
    a, b = _comparable(first, second), _comparable(second, first)
    try:
        fails = b <= a if rule.strict else b < a
    except TypeError:
        return None  # values that do not compare (a misconfigured rule): the command's validation names it
    if fails:
        return Finding(rule.code, rule.field, rule.message, f"{show(first)} → {show(second)}")
    return None


def evaluate(rules: Iterable[Rule], kind: str, values: Mapping[str, Any]) -> tuple[list[Finding], list[str]]:
    """The findings of every rule of ``kind`` on a record's values, and the codes of the rules of that kind
    (a live query of a rule that passes is closed)."""
    findings, codes = [], []
    for rule in rules:
        if rule.kind != kind:
            continue
        codes.append(rule.code)
        finding = check(rule, values)
        if finding is not None:
            findings.append(finding)
    return findings, codes
