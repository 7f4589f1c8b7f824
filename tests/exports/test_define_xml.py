"""Issue 13: the SDTM export's Define-XML is valid against the official Define-XML 2.0 schema (the copy odmlib
ships, which imports ODM 1.3.2) and describes exactly what was written: each ItemGroupDef a dataset file,
each ItemDef a column of it (in order, with its type and length), each CodeList the controlled terms the
column holds, with the NCI codes of exports.terminology."""

from __future__ import annotations

import os

import odmlib
import pytest
import xmlschema
from lxml import etree

from exports import terminology as ct
from exports.define import validate
from exports.sdtm import build_sdtm
from tests.exports.sdtm_data import read_xpt, screened_subject, sdtm_trial

pytestmark = pytest.mark.django_db
ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.0"
XLINK = "http://www.w3.org/1999/xlink"
N = {"odm": ODM, "def": DEF}
CHARACTER = {"text", "date", "datetime"}


def official_schema() -> xmlschema.XMLSchema:
    """The Define-XML 2.0.0 schema as CDISC publishes it, from odmlib's package (not the export's own loader)."""
    path = os.path.join(os.path.dirname(odmlib.__file__), "schemas", "define", "2.0", "define2-0-0.xsd")
    assert os.path.isfile(path), path
    return xmlschema.XMLSchema(path)


@pytest.fixture(scope="module")
def schema():
    return official_schema()


def _check_describes_exactly(files: dict[str, bytes], schema) -> etree._Element:
    xml = files["define.xml"]
    schema.validate(xml.decode())
    doc = etree.fromstring(xml)
    assert doc.get("ODMVersion") == "1.3.2" and doc.get("FileType") == "Snapshot"
    [mdv] = doc.xpath("//odm:MetaDataVersion", namespaces=N)
    assert mdv.get(f"{{{DEF}}}DefineVersion") == "2.0.0" and mdv.get(f"{{{DEF}}}StandardName") == "SDTM-IG"
    item_defs = {d.get("OID"): d for d in mdv.xpath("odm:ItemDef", namespaces=N)}
    codelists = {c.get("OID"): c for c in mdv.xpath("odm:CodeList", namespaces=N)}
    groups = mdv.xpath("odm:ItemGroupDef", namespaces=N)
    # One ItemGroupDef per dataset file, and no other.
    leaves = {g.get("Name"): g.xpath("def:leaf", namespaces=N)[0].get(f"{{{XLINK}}}href") for g in groups}
    assert set(leaves.values()) == {name for name in files if name.endswith(".xpt")}
    referenced_items, referenced_lists = set(), set()
    for group in groups:
        frame, meta = read_xpt(files[leaves[group.get("Name")]])
        assert meta.table_name == group.get("Name") == group.get("SASDatasetName")
        assert group.xpath("odm:Description/odm:TranslatedText/text()", namespaces=N) == [meta.file_label]
        refs = group.xpath("odm:ItemRef", namespaces=N)
        assert [int(r.get("OrderNumber")) for r in refs] == list(range(1, len(refs) + 1))
        names = []
        for ref in refs:
            item = item_defs[ref.get("ItemOID")]
            referenced_items.add(ref.get("ItemOID"))
            names.append(item.get("Name"))
            column = item.get("Name")
            values = list(frame[column])
            label = item.xpath("odm:Description/odm:TranslatedText/text()", namespaces=N)
            assert label == [meta.column_names_to_labels[column]], column
            numeric = str(frame[column].dtype).startswith("float")
            if item.get("DataType") in CHARACTER:
                assert not numeric, column
                if item.get("DataType") == "text":
                    assert int(item.get("Length")) >= max([1, *(len(v) for v in values)]), column
            else:
                assert item.get("DataType") in ("integer", "float") and numeric, column
            [codelist_ref] = item.xpath("odm:CodeListRef/@CodeListOID", namespaces=N) or [None]
            used = {v for v in values if isinstance(v, str) and v != ""}
            if codelist_ref is None:
                continue
            referenced_lists.add(codelist_ref)
            codelist = codelists[codelist_ref]
            if codelist.xpath("odm:ExternalCodeList", namespaces=N):
                assert codelist.xpath("odm:ExternalCodeList/@Dictionary", namespaces=N) == ["CTCAE"]
                continue
            listed = set(codelist.xpath("odm:CodeListItem/@CodedValue", namespaces=N))
            if used:
                assert listed == used, (group.get("Name"), column, listed, used)
            key = codelist_ref.rsplit(".", 1)[1]
            terms = ct.CODELISTS[key]
            assert codelist.get("Name") == terms.name
            if terms.code:
                assert codelist.xpath("odm:Alias[@Context='nci:ExtCodeID']/@Name", namespaces=N) == [terms.code]
            for entry in codelist.xpath("odm:CodeListItem", namespaces=N):
                term = terms.term(entry.get("CodedValue"))
                aliases = entry.xpath("odm:Alias/@Name", namespaces=N)
                assert aliases == ([term.code] if term is not None and term.code else []), entry.get("CodedValue")
                extended = entry.get(f"{{{DEF}}}ExtendedValue")
                assert (extended == "Yes") == (term is None and not terms.sponsor_defined)
        assert names == list(frame.columns), group.get("Name")
    # Nothing described that is not in a file.
    assert referenced_items == set(item_defs)
    assert referenced_lists == set(codelists)
    return doc


def test_define_is_valid_and_describes_exactly_the_datasets(site_a, site_b, schema):
    world = sdtm_trial(site_a, site_b)
    trial = world["trial"]
    identifiable = _check_describes_exactly(build_sdtm(trial, deidentified=False), schema)
    assert identifiable.xpath("//odm:ItemDef[@Name='BRTHDTC']", namespaces=N)
    # The terms used, with their NCI codes: AESER's No/Yes, the RECIST response, the tumour test codes.
    assert identifiable.xpath("//odm:CodeList[@OID='CL.AE.AESER.NY']/odm:CodeListItem[@CodedValue='Y']"
                              "/odm:Alias/@Name", namespaces=N) == ["C49488"]
    assert identifiable.xpath("//odm:CodeList[@OID='CL.RS.RSSTRESC.RSRES']/odm:CodeListItem/@CodedValue",
                              namespaces=N) == ["PR"]
    assert identifiable.xpath("//odm:CodeList[@OID='CL.PC.PCTESTCD.PCTESTCD']/odm:CodeListItem/@CodedValue",
                              namespaces=N) == ["LVGN6051"]
    for mode in ("study_day", "shift"):
        trial.export_dates = mode
        trial.save(update_fields=["export_dates"])
        doc = _check_describes_exactly(build_sdtm(trial, deidentified=True), schema)
        assert not doc.xpath("//odm:ItemDef[@Name='BRTHDTC']", namespaces=N)
        comment = "".join(doc.xpath("//def:CommentDef//odm:TranslatedText/text()", namespaces=N))
        assert ("shifted" in comment) == (mode == "shift") and ("study days only" in comment) == (mode == "study_day")


def test_define_of_a_trial_without_pk_results_is_valid(bat6005, site_a, people, schema):
    """BAT6005 has no PK result yet: PC is empty and its sponsor-defined analyte codelist has no term to list
    (an empty CodeList is invalid): the columns carry no CodeListRef."""
    screened_subject(bat6005, site_a, people)
    files = build_sdtm(bat6005, deidentified=True)
    doc = _check_describes_exactly(files, schema)
    assert not doc.xpath("//odm:CodeList[starts-with(@OID, 'CL.PC.PCTESTCD')]", namespaces=N)
    assert doc.xpath("//odm:ItemGroupDef[@Name='PC']", namespaces=N)


def test_the_schema_check_can_fail(site_a, site_b, schema):
    world = sdtm_trial(site_a, site_b)
    xml = build_sdtm(world["trial"], deidentified=True)["define.xml"]
    assert validate(xml) == []
    doc = etree.fromstring(xml)
    group = doc.xpath("//odm:ItemGroupDef[@Name='AE']", namespaces=N)[0]
    del group.attrib[f"{{{DEF}}}Structure"]  # required by Define-XML 2.0
    broken = etree.tostring(doc)
    assert not schema.is_valid(broken.decode())
    assert validate(broken) and "Structure" in " ".join(validate(broken))
