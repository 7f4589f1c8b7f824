"""Define-XML 2.0 for the SDTM export: the metadata of exactly the datasets and variables written.

Built with lxml and validated with xmlschema against the Define-XML 2.0.0 schema odmlib ships
(``odmlib/schemas/define/2.0/define2-0-0.xsd``, which imports the ODM 1.3.2 schema). lxml rather than odmlib's
own document model: odmlib keeps its namespace prefixes in a process-wide registry that its ODM 1.3.2 and
Define 2.1 models also set, and the ODM export runs in the same worker process.

The document: ``ODM`` (Snapshot, ODM 1.3.2) > ``Study`` > ``MetaDataVersion`` (SDTM-IG :data:`SDTMIG_VERSION`)
with one ``ItemGroupDef`` per dataset (def:Structure, def:Class, Purpose="Tabulation", its ``def:leaf`` to the
``.xpt``), an ``ItemDef`` per variable (DataType, Length from the file's storage width, def:Origin), the
``CodeList``s with their NCI codes (``Alias Context="nci:ExtCodeID"``), each listing the values the data holds,
and the standard CT package named in a ``def:CommentDef``.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime

from lxml import etree

from exports import terminology as ct

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}


def schema_path() -> str:
    import odmlib

    return os.path.join(os.path.dirname(odmlib.__file__), "schemas", "define", "2.0", "define2-0-0.xsd")


@functools.cache
def _schema():
    import xmlschema

    return xmlschema.XMLSchema(schema_path())


def validate(xml: bytes) -> list[str]:
    """The schema errors of a Define-XML 2.0 document (empty: valid)."""
    return [f"{e.path}: {e.reason}" for e in _schema().iter_errors(xml.decode("utf-8"))]


def _d(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _text(parent, tag: str, text: str):
    el = etree.SubElement(parent, tag)
    tt = etree.SubElement(el, "TranslatedText")
    tt.set(f"{{{XML_NS}}}lang", "en")
    tt.text = text
    return el


def _alias(parent, code: str):
    etree.SubElement(parent, "Alias", Context="nci:ExtCodeID", Name=code)


def _item_oid(dataset: str, variable: str) -> str:
    return f"IT.{dataset}.{variable}"


def _codelist_oid(dataset: str, variable: str, key: str) -> str:
    # One codelist per variable (each lists the values of its own column): TESTCDs of different domains differ.
    return f"CL.{dataset}.{variable}.{key}"


def _number_length(values: list) -> tuple[int, int | None]:
    """Length (digits incl. sign and point) and significant digits after the point of numeric values."""
    length, fraction = 1, 0
    for v in values:
        if v is None:
            continue
        text = format(v, "f").rstrip("0").rstrip(".") if isinstance(v, float) else str(v)
        length = max(length, len(text))
        if "." in text:
            fraction = max(fraction, len(text.split(".")[1]))
    return length, fraction


def build_define(trial, written, *, deidentified: bool, now: datetime | None = None) -> bytes:
    """Define-XML 2.0 describing ``written`` (exports.sdtm.Written: dataset, variables, widths)."""
    from exports.sdtm import SDTMIG_VERSION

    now = now or datetime.now(UTC)
    root = etree.Element("ODM", nsmap=NSMAP)
    root.set("FileType", "Snapshot")
    root.set("FileOID", f"DEFINE.{trial.code}.SDTM")
    root.set("CreationDateTime", now.replace(microsecond=0).isoformat())
    root.set("ODMVersion", "1.3.2")
    root.set("Originator", "TrialSite")
    root.set("SourceSystem", "TrialSite")
    study = etree.SubElement(root, "Study", OID=f"STUDY.{trial.code}")
    gv = etree.SubElement(study, "GlobalVariables")
    etree.SubElement(gv, "StudyName").text = trial.code
    etree.SubElement(gv, "StudyDescription").text = trial.title or trial.code
    etree.SubElement(gv, "ProtocolName").text = trial.code
    mdv = etree.SubElement(study, "MetaDataVersion", OID=f"MDV.{trial.code}.SDTMIG.{SDTMIG_VERSION}",
                           Name=f"{trial.code} SDTM datasets",
                           Description=f"{trial.title or trial.code}: SDTM tabulation datasets"
                                       f"{' (de-identified)' if deidentified else ''}. Controlled terminology: "
                                       f"{ct.CT_STANDARD}.")
    mdv.set(_d("DefineVersion"), "2.0.0")
    mdv.set(_d("StandardName"), "SDTM-IG")
    mdv.set(_d("StandardVersion"), SDTMIG_VERSION)

    item_defs, codelists = [], []
    for w in written:
        ds = w.dataset
        ig = etree.SubElement(mdv, "ItemGroupDef", OID=f"IG.{ds.name}", Name=ds.name, Repeating="Yes",
                              IsReferenceData="No", SASDatasetName=ds.name, Domain=ds.domain or ds.name,
                              Purpose="Tabulation")
        ig.set(_d("Structure"), ds.structure)
        ig.set(_d("Class"), ds.cls)
        ig.set(_d("ArchiveLocationID"), f"LF.{ds.name}")
        ig.set(_d("CommentOID"), "COM.CT")
        _text(ig, "Description", ds.label)
        for order, v in enumerate(w.variables, start=1):
            ref = etree.SubElement(ig, "ItemRef", ItemOID=_item_oid(ds.name, v.name), OrderNumber=str(order),
                                   Mandatory="Yes" if v.mandatory else "No")
            if v.key is not None:
                ref.set("KeySequence", str(v.key))
            ref.set("Role", v.role)
            values = [row.get(v.name) for row in ds.rows]
            item_defs.append((ds, v, w.widths[v.name], values))
        leaf = etree.SubElement(ig, _d("leaf"), ID=f"LF.{ds.name}")
        leaf.set(f"{{{XLINK_NS}}}href", ds.file_name)
        etree.SubElement(leaf, _d("title")).text = ds.file_name

    for ds, v, width, values in item_defs:
        item = etree.SubElement(mdv, "ItemDef", OID=_item_oid(ds.name, v.name), Name=v.name, DataType=v.type)
        if v.type == "text":
            item.set("Length", str(width))
        elif v.numeric:
            length, fraction = _number_length(values)
            item.set("Length", str(length))
            if v.type == "float":
                item.set("SignificantDigits", str(fraction))
        item.set("SASFieldName", v.name)
        _text(item, "Description", v.label)
        used = sorted({str(x) for x in values if x not in (None, "")})
        cl = ct.CODELISTS[v.codelist] if v.codelist else None
        # A codelist needs at least one term (schema): a sponsor-defined one with no published terms (the PK
        # analytes) is only written when its column holds values; otherwise the column has no CodeListRef.
        if cl is not None and (used or cl.terms or cl.external is not None):
            oid = _codelist_oid(ds.name, v.name, v.codelist)
            etree.SubElement(item, "CodeListRef", CodeListOID=oid)
            codelists.append((oid, cl, used))
        origin = etree.SubElement(item, _d("Origin"), Type=v.origin)
        if v.origin == "Derived" and v.name.endswith("DY"):
            _text(origin, "Description", "Study day: day 1 is the first dose day (the enrolment day before any "
                                         "dose); the day before day 1 is day -1.")

    for oid, cl, used in codelists:
        _codelist(mdv, oid, cl, used)

    comment = etree.SubElement(mdv, _d("CommentDef"), OID="COM.CT")
    _text(comment, "Description", f"Controlled terminology: {ct.CT_STANDARD}; AEDECOD coded to CTCAE "
                                  f"{ct.CTCAE[1]}. Dates: "
                                  + ("shifted by a constant number of days per subject; study days unchanged."
                                     if deidentified and trial.export_dates == "shift" else
                                     "not exported (study days only)." if deidentified else "as recorded."))
    # The file locations are the ItemGroupDefs' def:leaf elements (Define-XML 2.0: one per dataset).
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _codelist(mdv, oid: str, cl: ct.Codelist, used: list[str]):
    el = etree.SubElement(mdv, "CodeList", OID=oid, Name=cl.name, DataType=cl.data_type)
    if cl.external is not None:
        etree.SubElement(el, "ExternalCodeList", Dictionary=cl.external[0], Version=cl.external[1])
        return
    # The values the column holds; a column with none lists the codelist's terms as published.
    values = used or [t.value for t in cl.terms]
    for value in values:
        term = cl.term(value)
        item = etree.SubElement(el, "CodeListItem", CodedValue=value)
        if term is None and not cl.sponsor_defined:
            if not cl.extensible:
                raise ValueError(f"{value!r} is not a term of the non-extensible codelist {cl.name} ({cl.code}).")
            item.set(_d("ExtendedValue"), "Yes")
        _text(item, "Decode", (term.decode if term is not None and term.decode else value))
        if term is not None and term.code:
            _alias(item, term.code)
    if cl.code:
        _alias(el, cl.code)
