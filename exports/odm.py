"""The CDISC ODM 1.3.2 export: the trial's metadata, its clinical data and the audit trail, in one XML file
valid against the official schema (odmlib ships it: :func:`schema_path`, :func:`validate`).

- ``Study``/``MetaDataVersion``: one study event (``SE.TRIAL``, the trial's conduct) with one form per
  subject-level domain of :mod:`exports.domains` (``F.AE`` …), each with one repeating item group
  (``IG.AE``, repeat key = the record's id) whose items are the domain's columns (``IT.AE.GRADE`` …,
  with their types; coded columns with a ``CodeList``).
- ``AdminData``: the users who appear in the audit trail and the trial's sites (``Location``). An
  identifiable export names the users; a de-identified one gives each a pseudonymous OID and the roles it
  holds in the trial ("Site coordinator at S01"), never a name.
- ``ClinicalData`` (``FileType="Transactional"``): for each subject and record, its history from the
  pghistory audit events, oldest first: the first as ``Insert`` with every item that has a value, each later
  change as ``Update`` with the items it changed; each ``ItemData`` carries its ``AuditRecord`` (``UserRef``,
  ``LocationRef`` = the subject's site, ``DateTimeStamp``, ``ReasonForChange`` = the reason given for a
  correction or a void, ``SourceID`` = the audit event). The last state of each record is the record as
  it stands; a voided record's last change sets ``RECORD_STATUS`` to ``void``.

De-identified: the values are written as in every other format (exports.deid: subject codes, study days or
shifted dates, no identity or free text, so no ``ReasonForChange``); the audit time stamps (a date-time the
schema requires) are exports.deid's ``Deidentifier.stamp``: shifted by the subject's secret number of days
(``shift``), or counted from the subject's day 1 written as 2000-01-01, without a UTC offset (``study_day``:
no calendar date of a subject leaves the site).
Trial-level domains (decisions, signatures) are not subject data: they are in the CSV and SDTM exports.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone
from lxml import etree

from exports.deid import Deidentifier
from exports.domains import BOOLEAN, DATE, DATETIME, DECIMAL, DOMAINS, INTEGER, JSON, TEXT, Domain, domain_rows, text

NS = "http://www.cdisc.org/ns/odm/v1.3"
STUDY_EVENT = "SE.TRIAL"
MDV = "MDV.1"
DATA_TYPES = {
    TEXT: "text",
    INTEGER: "integer",
    DECIMAL: "float",
    BOOLEAN: "boolean",
    DATE: "date",
    DATETIME: "datetime",
    JSON: "text",
}


def schema_path() -> str:
    import odmlib

    return os.path.join(os.path.dirname(odmlib.__file__), "schemas", "odm", "1.3.2", "ODM1-3-2.xsd")


@functools.cache
def _schema():
    import xmlschema

    return xmlschema.XMLSchema(schema_path())


def validate(content: bytes) -> None:
    """Raise ``xmlschema.XMLSchemaValidationError`` unless ``content`` is valid ODM 1.3.2."""
    _schema().validate(etree.fromstring(content))


def _el(parent, tag: str, attrs: dict | None = None, text_value: str | None = None):
    node = etree.SubElement(parent, f"{{{NS}}}{tag}", {k: str(v) for k, v in (attrs or {}).items()})
    if text_value is not None:
        node.text = text_value
    return node


def _description(parent, value: str):
    node = _el(parent, "Description")
    _el(node, "TranslatedText", {"{http://www.w3.org/XML/1998/namespace}lang": "en"}, value)
    return node


def _oid(*parts: str) -> str:
    return ".".join(p.upper().replace(" ", "_") for p in parts)


def subject_domains() -> list[Domain]:
    return [d for d in DOMAINS.values() if d.subject is not None]


def _stamp(value: datetime) -> str:
    return timezone.localtime(value).replace(microsecond=0).isoformat()


class _Audit:
    """Who (users, pseudonymous when de-identified) and where (sites) the audit records name."""

    def __init__(self, trial, deid: Deidentifier):
        self.trial, self.deid = trial, deid
        self.users: dict[str, dict] = {}

    def user_ref(self, context: dict, db_user: str) -> str:
        user_id = context.get("user")
        if isinstance(user_id, int):
            oid = f"USR.{user_id}"
            self.users.setdefault(oid, {"pk": user_id})
        else:
            source = context.get("source") or db_user or "unknown"
            oid = _oid("USR", "SYSTEM", "".join(c if c.isalnum() else "_" for c in source))
            self.users.setdefault(oid, {"system": source})
        return oid

    def write_users(self, admin) -> None:
        from trials.models import Membership

        ids = [u["pk"] for u in self.users.values() if "pk" in u]
        people = get_user_model().objects.in_bulk(ids)
        roles: dict[int, list[str]] = {}
        for m in Membership.objects.filter(trial=self.trial, user_id__in=ids).select_related("site"):
            where = f" at {m.site.code}" if m.site_id else ""
            roles.setdefault(m.user_id, []).append(f"{m.get_role_display()}{where}")
        for oid, info in sorted(self.users.items()):
            if "system" in info:
                node = _el(admin, "User", {"OID": oid, "UserType": "Other"})
                _el(node, "DisplayName", text_value=f"System ({info['system']})")
                continue
            person, held = (
                people.get(info["pk"]),
                "; ".join(sorted(roles.get(info["pk"], []))) or "No role in the trial",
            )
            node = _el(admin, "User", {"OID": oid, "UserType": "Investigator" if "Investigator" in held else "Other"})
            if self.deid.deidentified or person is None:
                _el(node, "DisplayName", text_value=held)
            else:
                _el(node, "LoginName", text_value=person.username)
                _el(node, "DisplayName", text_value=held)
                _el(node, "FullName", text_value=person.get_full_name() or person.username)
                if person.first_name:
                    _el(node, "FirstName", text_value=person.first_name)
                if person.last_name:
                    _el(node, "LastName", text_value=person.last_name)


def _metadata(study, trial, deid: Deidentifier, domains: list[Domain]) -> dict[str, list]:
    """Write GlobalVariables and the MetaDataVersion; return each domain's (column, ItemOID, kind)."""
    glob = _el(study, "GlobalVariables")
    _el(glob, "StudyName", text_value=trial.code)
    _el(glob, "StudyDescription", text_value=trial.title)
    _el(glob, "ProtocolName", text_value=trial.code)
    mdv = _el(study, "MetaDataVersion", {"OID": MDV, "Name": f"{trial.code} as exported ({deid.mode})"})
    protocol = _el(mdv, "Protocol")
    _el(protocol, "StudyEventRef", {"StudyEventOID": STUDY_EVENT, "OrderNumber": 1, "Mandatory": "Yes"})
    event = _el(
        mdv, "StudyEventDef", {"OID": STUDY_EVENT, "Name": "Trial conduct", "Repeating": "No", "Type": "Common"}
    )
    for number, domain in enumerate(domains, start=1):
        _el(event, "FormRef", {"FormOID": f"F.{domain.code}", "OrderNumber": number, "Mandatory": "No"})
    items: dict[str, list] = {}
    for domain in domains:
        form = _el(mdv, "FormDef", {"OID": f"F.{domain.code}", "Name": domain.label, "Repeating": "No"})
        _el(form, "ItemGroupRef", {"ItemGroupOID": f"IG.{domain.code}", "Mandatory": "No"})
    codelists = []
    for domain in domains:
        group = _el(
            mdv,
            "ItemGroupDef",
            {"OID": f"IG.{domain.code}", "Name": domain.name, "Repeating": "Yes", "Domain": domain.code},
        )
        _description(group, domain.label)
        columns = []
        for order, (name, column) in enumerate(domain.output_columns(deid), start=1):
            oid = _oid("IT", domain.code, name)
            kind = domain.output_kind(name, column)
            columns.append((name, oid, kind, column))
            _el(
                group,
                "ItemRef",
                {
                    "ItemOID": oid,
                    "OrderNumber": order,
                    "Mandatory": "Yes" if name in ("usubjid", "record_id") else "No",
                    **({"KeySequence": 1} if name == "record_id" else {}),
                },
            )
        items[domain.name] = columns
    for domain in domains:
        for name, oid, kind, column in items[domain.name]:
            item = _el(mdv, "ItemDef", {"OID": oid, "Name": name, "DataType": DATA_TYPES[kind]})
            label = (
                column.label
                if column is not None
                else {
                    "usubjid": "Unique subject identifier (trial and subject code)",
                    "subject_code": "Subject code",
                    "site": "Site",
                    "record_id": "Record id (stable across exports)",
                }.get(name, name)
            )
            if name.endswith("_study_day"):
                label = f"{label} (study day; day 1 = first dose, no day 0)"
            _description(item, label)
            question = _el(item, "Question")
            _el(question, "TranslatedText", {"{http://www.w3.org/XML/1998/namespace}lang": "en"}, label)
            if column is not None and column.choices:
                cl_oid = _oid("CL", domain.code, name)
                _el(item, "CodeListRef", {"CodeListOID": cl_oid})
                codelists.append((cl_oid, name, column.choices))
    for cl_oid, name, choices in codelists:
        codelist = _el(mdv, "CodeList", {"OID": cl_oid, "Name": name, "DataType": "text"})
        for value, label in choices:
            entry = _el(codelist, "CodeListItem", {"CodedValue": value})
            decode = _el(entry, "Decode")
            _el(decode, "TranslatedText", {"{http://www.w3.org/XML/1998/namespace}lang": "en"}, label)
    return items


def _history(domain: Domain, records: list) -> dict[int, list]:
    """The audit events of ``records``, oldest first, per record id."""
    from records.selectors import event_model_for

    event_model = event_model_for(domain.model)
    events = (
        event_model.objects.filter(pgh_obj_id__in=[r.pk for r in records])
        .exclude(pgh_label="delete")
        .select_related(*domain.related)
        .order_by("pgh_id")
    )
    by_record: dict[int, list] = {}
    for event in events:
        by_record.setdefault(event.pgh_obj_id, []).append(event)
    return by_record


def build_odm(trial, *, deidentified: bool, sites=None, progress=None) -> bytes:
    """The ODM 1.3.2 document (bytes, UTF-8) of ``trial``."""
    deid = Deidentifier(trial, deidentified=deidentified)
    domains = subject_domains()
    now = timezone.now()
    root = etree.Element(
        f"{{{NS}}}ODM",
        nsmap={None: NS},
        attrib={
            "FileType": "Transactional",
            "Granularity": "All",
            "FileOID": f"{trial.code}.{now:%Y%m%dT%H%M%S}",
            "CreationDateTime": _stamp(now),
            "ODMVersion": "1.3.2",
            "Originator": "TrialSite",
            "SourceSystem": "TrialSite",
            "Description": f"{trial.code}: {'de-identified' if deidentified else 'identifiable'} export ({deid.mode})",
        },
    )
    study = _el(root, "Study", {"OID": _oid("S", trial.code)})
    items = _metadata(study, trial, deid, domains)
    admin = _el(root, "AdminData", {"StudyOID": _oid("S", trial.code)})
    audit = _Audit(trial, deid)
    clinical_holder = etree.Element(
        f"{{{NS}}}ClinicalData", {"StudyOID": _oid("S", trial.code), "MetaDataVersionOID": MDV}
    )
    subjects: dict[str, dict[str, list]] = {}  # subject code -> form OID -> [ItemGroupData elements]
    subject_sites: dict[str, str] = {}
    for index, domain in enumerate(domains):
        if progress is not None:
            progress(int(85 * index / len(domains)), f"ODM: {domain.label}")
        records = list(domain.records(trial, sites))
        if domain.name == "screening":
            records = [r for r in records if r.subject_id]  # candidates never enrolled are no ODM subject
        if not records:
            continue
        owners = {r.pk: r for r in records}
        history = _history(domain, records)
        columns = items[domain.name]
        for record in records:
            subject = domain.subject(record)
            site = subject.site.code
            subject_sites[subject.code] = site
            stand_in = subject
            events = history.get(record.pk, [])
            states = domain_rows(domain, trial, deid, records=events, owners=owners) if events else []
            groups = subjects.setdefault(subject.code, {}).setdefault(f"F.{domain.code}", [])
            if not events:  # tracked before the audit began: the record as it stands, without audit
                [current] = domain_rows(domain, trial, deid, records=[record])
                group = etree.Element(
                    f"{{{NS}}}ItemGroupData",
                    {
                        "ItemGroupOID": f"IG.{domain.code}",
                        "ItemGroupRepeatKey": str(record.pk),
                        "TransactionType": "Insert",
                    },
                )
                for name, oid, kind, _column in columns:
                    if current[name] not in (None, ""):
                        _el(
                            group,
                            "ItemData",
                            {"ItemOID": oid, "Value": text(current[name], kind), "TransactionType": "Insert"},
                        )
                groups.append(group)
                continue
            previous = None
            for event, state in zip(events, states, strict=True):
                changed = [
                    (name, oid, kind)
                    for name, oid, kind, _c in columns
                    if (previous is None and state[name] not in (None, ""))
                    or (previous is not None and state[name] != previous[name])
                ]
                previous_state, previous = previous, state
                if not changed:
                    continue
                action = "Insert" if previous_state is None else "Update"
                context = event.pgh_context if isinstance(event.pgh_context, dict) else {}
                group = etree.Element(
                    f"{{{NS}}}ItemGroupData",
                    {
                        "ItemGroupOID": f"IG.{domain.code}",
                        "ItemGroupRepeatKey": str(record.pk),
                        "TransactionType": action,
                    },
                )
                when = deid.stamp(stand_in, event.pgh_created_at)
                user_oid = audit.user_ref(context, getattr(event, "pgh_db_user", "") or "")
                for name, oid, kind in changed:
                    value = state[name]
                    attrs = {"ItemOID": oid, "TransactionType": action}
                    if value in (None, ""):
                        attrs["IsNull"] = "Yes"
                    else:
                        attrs["Value"] = text(value, kind)
                    item = _el(group, "ItemData", attrs)
                    record_audit = _el(item, "AuditRecord", {"EditPoint": "DBAudit"})
                    _el(record_audit, "UserRef", {"UserOID": user_oid})
                    _el(record_audit, "LocationRef", {"LocationOID": _oid("LOC", site)})
                    _el(record_audit, "DateTimeStamp", text_value=when)
                    reason = context.get("reason") or ""
                    if reason and not deid.deidentified:
                        _el(record_audit, "ReasonForChange", text_value=reason)
                    _el(
                        record_audit,
                        "SourceID",
                        text_value=f"{event._meta.label}:{event.pgh_id}"
                        f"{':' + context['change'] if context.get('change') else ''}",
                    )
                groups.append(group)
    if progress is not None:
        progress(88, "ODM: users and sites")
    audit.write_users(admin)
    from trials.models import Site

    site_ids = [*trial.sites.values_list("pk", flat=True), *trial.subjects.values_list("site_id", flat=True)]
    for site in Site.objects.filter(pk__in=site_ids if sites is None else sites).order_by("code"):
        location = _el(admin, "Location", {"OID": _oid("LOC", site.code), "Name": site.name, "LocationType": "Site"})
        _el(
            location,
            "MetaDataVersionRef",
            {
                "StudyOID": _oid("S", trial.code),
                "MetaDataVersionOID": MDV,
                "EffectiveDate": timezone.localdate(now).isoformat(),
            },
        )
    for code in sorted(subjects):
        subject_el = _el(clinical_holder, "SubjectData", {"SubjectKey": code, "TransactionType": "Upsert"})
        _el(subject_el, "SiteRef", {"LocationOID": _oid("LOC", subject_sites[code])})
        event_el = _el(subject_el, "StudyEventData", {"StudyEventOID": STUDY_EVENT, "TransactionType": "Upsert"})
        for form_oid, groups in subjects[code].items():
            if not groups:
                continue
            form = _el(event_el, "FormData", {"FormOID": form_oid, "TransactionType": "Upsert"})
            for group in groups:
                form.append(group)
    root.append(clinical_holder)
    if progress is not None:
        progress(95, "ODM written")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
