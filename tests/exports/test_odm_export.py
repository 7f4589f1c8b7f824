"""Issue 13, point 4: the ODM 1.3.2 export validates against the official XSD (odmlib's copy, xmlschema),
carries the audit trail (the correction's reason, the void) and de-identifies."""

from __future__ import annotations

import pytest
import xmlschema
from lxml import etree

from exports.odm import NS, build_odm, schema_path
from tests.exports.helpers import BIRTHS, INITIALS, REASON, VOID_REASON, export_trial

pytestmark = pytest.mark.django_db
N = {"odm": NS}


@pytest.fixture
def world(site_a, site_b):
    return export_trial(site_a, site_b)


def _group(doc, record_pk, oid="IG.AE"):
    return doc.xpath(f"//odm:ItemGroupData[@ItemGroupOID='{oid}'][@ItemGroupRepeatKey='{record_pk}']", namespaces=N)


def test_identifiable_odm_is_valid_with_the_audit_trail(world):
    content = build_odm(world["trial"], deidentified=False)
    schema = xmlschema.XMLSchema(schema_path())
    assert schema.is_valid(etree.fromstring(content)), schema.validate(etree.fromstring(content))
    doc = etree.fromstring(content)
    assert doc.get("ODMVersion") == "1.3.2" and doc.get("FileType") == "Transactional"
    assert doc.xpath("//odm:MetaDataVersion/odm:ItemDef[@OID='IT.AE.GRADE']", namespaces=N)
    corrected = world["corrected"]
    insert, update = _group(doc, corrected.pk)[:2]
    assert insert.get("TransactionType") == "Insert" and update.get("TransactionType") == "Update"
    assert insert.xpath("odm:ItemData[@ItemOID='IT.AE.GRADE']/@Value", namespaces=N) == ["1"]
    [grade] = update.xpath("odm:ItemData[@ItemOID='IT.AE.GRADE']", namespaces=N)
    assert grade.get("Value") == "2"
    assert grade.xpath("odm:AuditRecord/odm:ReasonForChange/text()", namespaces=N) == [REASON]
    user = grade.xpath("odm:AuditRecord/odm:UserRef/@UserOID", namespaces=N)[0]
    assert user == f"USR.{world['people']['coordinator'].pk}"
    assert doc.xpath(f"//odm:AdminData/odm:User[@OID='{user}']/odm:LoginName/text()", namespaces=N) == ["c-lvgn"]
    assert grade.xpath("odm:AuditRecord/odm:LocationRef/@LocationOID", namespaces=N) == ["LOC.SITE-A"] or \
        grade.xpath("odm:AuditRecord/odm:LocationRef/@LocationOID", namespaces=N)[0].startswith("LOC.")
    # The voided AE: its last change sets the status to void, with the reason.
    last = _group(doc, world["voided"].pk)[-1]
    [status] = last.xpath("odm:ItemData[@ItemOID='IT.AE.RECORD_STATUS']", namespaces=N)
    assert status.get("Value") == "void"
    assert status.xpath("odm:AuditRecord/odm:ReasonForChange/text()", namespaces=N) == [VOID_REASON]
    # Identity as recorded.
    subject = world["subjects"][0]
    assert doc.xpath(f"//odm:SubjectData[@SubjectKey='{subject.code}']//odm:ItemData[@ItemOID='IT.DM.INITIALS']"
                     "/@Value", namespaces=N)[-1] == subject.initials


@pytest.mark.parametrize("mode", ["study_day", "shift"])
def test_deidentified_odm_is_valid_and_names_no_one(world, mode):
    trial = world["trial"]
    trial.export_dates = mode
    trial.save(update_fields=["export_dates"])
    content = build_odm(trial, deidentified=True)
    schema = xmlschema.XMLSchema(schema_path())
    schema.validate(etree.fromstring(content))
    text = content.decode()
    for initials in INITIALS:
        assert f'"{initials}"' not in text
    for birth in BIRTHS:
        assert birth.isoformat() not in text
    assert REASON not in text and "c-lvgn" not in text
    people = world["people"]
    for person in (people["coordinator"], people["investigator"]):
        assert person.last_name not in text
    doc = etree.fromstring(content)
    assert doc.xpath("//odm:User/odm:DisplayName[contains(text(), 'Site coordinator at')]", namespaces=N)
    first = world["subjects"][0].first_dose().administered_at.date()
    if mode == "study_day":
        assert first.isoformat() not in text
        assert doc.xpath("//odm:ItemDef[@OID='IT.AE.ONSET_DATE_STUDY_DAY']", namespaces=N)
    else:
        assert doc.xpath("//odm:ItemDef[@OID='IT.AE.ONSET_DATE']", namespaces=N)
