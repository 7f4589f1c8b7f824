"""The CDISC controlled terminology the SDTM export uses, with the codelists' and terms' NCI C-codes as
Define-XML needs them (``Alias Context="nci:ExtCodeID"``), and the mapping from the application's own values.

Source: CDISC SDTM Controlled Terminology, published by NCI EVS (https://evs.nci.nih.gov/ftp1/CDISC/SDTM/).
The export declares package ``CT_VERSION``. NCI concept codes are permanent: a code, once given to a term,
never changes between packages. Only codes checked against the published package are given: a CDISC term
whose code was not checked here is listed without one (Define-XML then names the term without an
``Alias``); a codelist CDISC does not publish is sponsor-defined (``code=None``: AEREL, the CTCAE grade, the
PK analytes); a value outside an extensible CDISC codelist is written as a sponsor extension
(``def:ExtendedValue="Yes"``, exports.define).

Nothing here imports Django: the mapping is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The CDISC SDTM CT package the codelists are declared against (NCI EVS, "SDTM Terminology 2025-03-28").
CT_VERSION = "2025-03-28"
CT_STANDARD = f"CDISC/NCI SDTM Controlled Terminology {CT_VERSION}"
# The dictionary AETERM is coded to: CTCAE v5.0 (NCI), whose terms are MedDRA lowest level terms.
CTCAE = ("CTCAE", "5.0")


@dataclass(frozen=True)
class Term:
    value: str  # the CDISC submission value
    code: str | None = None  # NCI C-code of the term
    decode: str = ""  # the preferred term / synonym shown in Define-XML (empty: the value itself)


@dataclass(frozen=True)
class Codelist:
    key: str  # short name, also the OID suffix: CL.<key>
    name: str  # the CDISC codelist name
    code: str | None  # NCI C-code of the codelist; None: sponsor-defined
    terms: tuple[Term, ...] = ()
    extensible: bool = True
    data_type: str = "text"
    external: tuple[str, str] | None = None  # (dictionary, version) for an external codelist
    by_value: dict[str, Term] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_value", {t.value: t for t in self.terms})

    @property
    def sponsor_defined(self) -> bool:
        return self.code is None and self.external is None

    def term(self, value: str) -> Term | None:
        return self.by_value.get(value)


def _cl(key, name, code, terms, *, extensible=True, data_type="text"):
    return Codelist(key=key, name=name, code=code, extensible=extensible, data_type=data_type,
                    terms=tuple(Term(*t) if isinstance(t, tuple) else Term(t) for t in terms))


CODELISTS: dict[str, Codelist] = {cl.key: cl for cl in (
    _cl("SEX", "Sex", "C66731", [("F", "C16576", "Female"), ("M", "C20197", "Male"), ("U", "C17998", "Unknown")],
        extensible=False),
    _cl("NY", "No Yes Response", "C66742", [("N", "C49487", "No"), ("Y", "C49488", "Yes")], extensible=False),
    _cl("AGEU", "Age Unit", "C66781", [("YEARS", "C29848", "Years")], extensible=False),
    _cl("ACN", "Action Taken with Study Treatment", "C66767", [
        ("DOSE NOT CHANGED", "C49504"), ("DOSE REDUCED", "C49505"), ("DRUG INTERRUPTED", "C49501"),
        ("DRUG WITHDRAWN", "C49502"), ("NOT APPLICABLE", "C48660"), ("UNKNOWN", "C17998")], extensible=False),
    _cl("OUT", "Outcome of Event", "C66768", [
        ("FATAL", "C48275"), ("NOT RECOVERED/NOT RESOLVED", "C49494"), ("RECOVERED/RESOLVED", "C49498"),
        ("RECOVERED/RESOLVED WITH SEQUELAE", "C49495"), ("RECOVERING/RESOLVING", "C49496"),
        ("UNKNOWN", "C17998")], extensible=False),
    # CTCAE grade (AETOXGR): CDISC publishes no codelist for it; the grades of CTCAE v5.0.
    _cl("TOXGR", "CTCAE v5.0 Grade", None, [
        ("1", None, "Grade 1 Mild"), ("2", None, "Grade 2 Moderate"), ("3", None, "Grade 3 Severe"),
        ("4", None, "Grade 4 Life-threatening"), ("5", None, "Grade 5 Death related to AE")], extensible=False),
    # Causality (AEREL): CDISC publishes no codelist (SDTMIG: sponsor-defined); the protocol's 5-point scale.
    _cl("AEREL", "Causality (5-point scale)", None, [
        ("NOT RELATED", None, "Not related"), ("UNLIKELY RELATED", None, "Unlikely related"),
        ("POSSIBLY RELATED", None, "Possibly related"), ("PROBABLY RELATED", None, "Probably related"),
        ("DEFINITELY RELATED", None, "Definitely related")], extensible=False),
    _cl("ROUTE", "Route of Administration Response", "C66729", [
        ("INTRAVENOUS", "C38276"), ("ORAL", "C38288"), ("SUBCUTANEOUS", "C38299"), ("INTRAMUSCULAR", "C28161")]),
    _cl("EPOCH", "Epoch", "C99079", [("SCREENING", "C48262"), ("TREATMENT", "C101526"), ("FOLLOW-UP", "C99158")]),
    _cl("EVAL", "Evaluator", "C78735", [("INVESTIGATOR", "C25936")]),
    _cl("VSTESTCD", "Vital Signs Test Code", "C66741", [("WEIGHT", "C25208", "Weight")]),
    _cl("VSTEST", "Vital Signs Test Name", "C67153", [("Weight", "C25208")]),
    # Units used here; the codes of kg, mm and % are those of the Unit codelist (C71620) and its subsets.
    _cl("UNIT", "Unit", "C71620", [("kg", "C28252", "Kilogram"), ("mm", "C28251", "Millimeter"),
                                    ("%", "C25613", "Percentage"), "mg", "mg/kg", "g/L", "U/L", "10^9/L",
                                    "umol/L", "mg/dL", "sec", "ug/mL", "ng/mL", "pg/mL"]),
    _cl("LBTESTCD", "Laboratory Test Code", "C65047", [
        ("ALB", "C64431", "Albumin"), ("ALT", "C64433", "Alanine Aminotransferase"),
        ("APTT", "C38462", "Activated Partial Thromboplastin Time"), ("AST", "C64467", "Aspartate Aminotransferase"),
        ("BILI", "C38037", "Bilirubin"), ("CREAT", "C64547", "Creatinine"), ("HGB", "C64848", "Hemoglobin"),
        ("INR", "C64805", "Prothrombin Intl. Normalized Ratio"), ("NEUT", "C63321", "Neutrophils"),
        ("PLAT", "C51951", "Platelets"), ("PT", "C62656", "Prothrombin Time")]),
    _cl("LBTEST", "Laboratory Test Name", "C67154", [
        ("Albumin", "C64431"), ("Alanine Aminotransferase", "C64433"),
        ("Activated Partial Thromboplastin Time", "C38462"), ("Aspartate Aminotransferase", "C64467"),
        ("Bilirubin", "C38037"), ("Creatinine", "C64547"), ("Hemoglobin", "C64848"),
        ("Prothrombin Intl. Normalized Ratio", "C64805"), ("Neutrophils", "C63321"), ("Platelets", "C51951"),
        ("Prothrombin Time", "C62656")]),
    # RECIST 1.1 (RS): test codes and names, and the response values.
    _cl("RSTESTCD", "Oncology Response Assessment Test Code", "C96782", [
        ("OVRLRESP", "C96613", "Overall Response"), ("TRGRESP", "C94534", "Target Response"),
        ("NTRGRESP", "C94535", "Non-target Response")]),
    _cl("RSTEST", "Oncology Response Assessment Test Name", "C96781", [
        ("Overall Response", "C96613"), ("Target Response", "C94534"), ("Non-target Response", "C94535")]),
    _cl("RSRES", "Oncology Response Assessment Result", "C96785", [
        ("CR", "C4870", "Complete Response"), ("PR", "C18058", "Partial Response"), ("SD", "C18213", "Stable Disease"),
        ("PD", "C35571", "Progressive Disease"), ("NE", "C62222", "Not Evaluable"),
        ("NON-CR/NON-PD", "C96700", "Non Complete Response/Non Progressive Disease")]),
    # Tumour identification (TU) and results (TR).
    _cl("TUTESTCD", "Tumor or Lesion Identification Test Code", "C96784", [
        ("TUMIDENT", "C94523", "Tumor Identification")]),
    _cl("TUTEST", "Tumor or Lesion Identification Test Name", "C96783", [("Tumor Identification", "C94523")]),
    _cl("TURES", "Tumor or Lesion Identification Test Results", "C123650", [
        ("TARGET", "C94520"), ("NON-TARGET", "C94521"), ("NEW", "C94522")]),
    _cl("TRTESTCD", "Tumor or Lesion Properties Test Code", "C96779", [
        ("LDIAM", "C96684", "Longest Diameter"), ("LPERP", "C96685", "Longest Perpendicular"),
        ("SUMDIAM", "C96631", "Sum of Diameter"), ("TUMSTATE", "C96643", "Tumor State"),
        ("PCBSD", "C112370", "Percent Change Baseline in Sum of Diam"),
        ("PCNSD", "C112373", "Percent Change Nadir in Sum of Diam")]),
    _cl("TRTEST", "Tumor or Lesion Properties Test Name", "C96778", [
        ("Longest Diameter", "C96684"), ("Longest Perpendicular", "C96685"), ("Sum of Diameter", "C96631"),
        ("Tumor State", "C96643"), ("Percent Change Baseline in Sum of Diam", "C112370"),
        ("Percent Change Nadir in Sum of Diam", "C112373")]),
    # Sponsor-defined: the PK analytes are the protocol's ([[pk.analytes]] with kind "pk").
    _cl("PCTESTCD", "PK Analyte Test Code", None, []),
    _cl("PCTEST", "PK Analyte Test Name", None, []),
    _cl("SPECTYPE", "Specimen Type", "C78734", ["SERUM", "PLASMA"]),
)}
CODELISTS["AEDECOD"] = Codelist(key="AEDECOD", name="CTCAE", code=None, external=CTCAE)

# --- the application's values -> submission values ---------------------------------------------------------

AEREL = {"unrelated": "NOT RELATED", "unlikely": "UNLIKELY RELATED", "possible": "POSSIBLY RELATED",
         "probable": "PROBABLY RELATED", "definite": "DEFINITELY RELATED", "": ""}
AEACN = {"none": "DOSE NOT CHANGED", "interrupted": "DRUG INTERRUPTED", "reduced": "DOSE REDUCED",
         "withdrawn": "DRUG WITHDRAWN", "not_applicable": "NOT APPLICABLE", "": ""}
AEOUT = {"recovering": "RECOVERING/RESOLVING", "recovered": "RECOVERED/RESOLVED",
         "sequelae": "RECOVERED/RESOLVED WITH SEQUELAE", "not_recovered": "NOT RECOVERED/NOT RESOLVED",
         "fatal": "FATAL", "unknown": "UNKNOWN", "": ""}
# Serious criteria -> the AE seriousness flags (SDTMIG AE: AESDTH ... AESMIE).
SERIOUS_FLAGS = {"death": "AESDTH", "life_threatening": "AESLIFE", "hospitalisation": "AESHOSP",
                 "disability": "AESDISAB", "congenital": "AESCONG", "important": "AESMIE"}
# The protocol files' route abbreviations.
ROUTE = {"IV": "INTRAVENOUS", "PO": "ORAL", "SC": "SUBCUTANEOUS", "IM": "INTRAMUSCULAR",
         "intravenous": "INTRAVENOUS", "oral": "ORAL", "subcutaneous": "SUBCUTANEOUS",
         "intramuscular": "INTRAMUSCULAR"}

# Screening values -> LB: test code, category and the standard (SI) unit. Units are written as CDISC writes
# them (ASCII: umol/L, 10^9/L).
LAB_TESTS = {
    "anc": ("NEUT", "HEMATOLOGY", "10^9/L"),
    "platelets": ("PLAT", "HEMATOLOGY", "10^9/L"),
    "hemoglobin": ("HGB", "HEMATOLOGY", "g/L"),
    "albumin": ("ALB", "CHEMISTRY", "g/L"),
    "ast": ("AST", "CHEMISTRY", "U/L"),
    "alt": ("ALT", "CHEMISTRY", "U/L"),
    "bilirubin": ("BILI", "CHEMISTRY", "umol/L"),
    "creatinine": ("CREAT", "CHEMISTRY", "umol/L"),
    "aptt": ("APTT", "COAGULATION", "sec"),
    "pt": ("PT", "COAGULATION", "sec"),
    "inr": ("INR", "COAGULATION", ""),
}


def unit(text: str) -> str:
    """An application unit written as CDISC writes units (ASCII): µmol/L -> umol/L, 10⁹/L -> 10^9/L."""
    mapped = {"µmol/L": "umol/L", "μmol/L": "umol/L", "10⁹/L": "10^9/L", "s": "sec", "ratio": "", "µg/mL": "ug/mL",
              "μg/mL": "ug/mL"}
    return mapped.get(text, text)


def test_name(codelist: str, testcd: str) -> str:
    """The test name for a test code (the decode of the code's term: LBTESTCD ALT -> Alanine Aminotransferase)."""
    term = CODELISTS[codelist].term(testcd)
    return term.decode if term is not None else testcd


def route(text: str) -> str:
    return ROUTE.get(text, ROUTE.get(text.lower(), text.upper()))


def dose_form(route_value: str) -> str:
    """EXDOSFRM from the route: tablets taken by mouth (the oral drugs are dispensed as tablets), solutions for
    infusion otherwise."""
    return "TABLET" if route_value == "ORAL" else "INJECTION"


# EXDOSFRM (Pharmaceutical Dosage Form, C66726): the two forms the protocols give.
CODELISTS["FRM"] = _cl("FRM", "Pharmaceutical Dosage Form", "C66726", ["TABLET", "INJECTION"])
