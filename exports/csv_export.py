"""The CSV export: a zip of one CSV file per domain (exports.domains), a ``manifest.json`` describing each
file's columns (name, label, type), row count and SHA-256, and a ``README.txt`` for the reader.

Cells: UTF-8, RFC 4180 quoting, ISO 8601 dates and date-times, ``true``/``false``, decimals as written
(no exponent), JSON for lists and mappings, empty for no value. :func:`read_csv_export` reads a zip back
into typed rows (the manifest's types), equal to the rows it was written from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from django.utils import timezone

from exports.deid import Deidentifier
from exports.domains import DOMAINS, domain_rows, parse, text

README = """{trial} — {title}
Export of the trial's data, one CSV file per domain ({when}).

{identity}
Each file starts with the subject (usubjid, the subject code, which starts with the trial code;
subject_code; site) and the record's id (record_id, stable across exports); voidable records are all listed, each with
record_status "live" or "void" (a void entry was entered in error and counts nowhere).
Dates are ISO 8601; booleans true/false; lists and mappings JSON. manifest.json lists every file's
columns with their labels and types, its number of rows and its SHA-256.
"""


def _identity_note(deid: Deidentifier) -> str:
    if not deid.deidentified:
        return "Identifiable: initials, dates of birth, calendar dates and staff names as recorded."
    if deid.mode == "study_day":
        return ("De-identified: subjects by code only; no initials, date of birth, staff name or free text; every "
                "date is a study day (name_study_day: day 1 = the subject's first dose, no day 0; trial-level "
                "records count from the trial's first dose).")
    return ("De-identified: subjects by code only; no initials, date of birth, staff name or free text; every "
            "date is shifted back by a number of days that is the same for all dates of one subject and differs "
            "between subjects (not recoverable from the export).")


def _site_codes(sites) -> list[str] | str:
    from trials.models import Site

    return "all" if sites is None else sorted(Site.objects.filter(pk__in=sites).values_list("code", flat=True))


def build_csv(trial, *, deidentified: bool, sites=None, progress=None) -> bytes:
    """The zip (bytes) of the trial's domains (of the subjects of ``sites`` only, when given)."""
    deid = Deidentifier(trial, deidentified=deidentified)
    buffer = io.BytesIO()
    manifest = {"trial": trial.code, "title": trial.title, "generated_at": timezone.now().isoformat(),
                "deidentified": deidentified, "dates": deid.mode,
                "sites": _site_codes(sites), "domains": {}}
    names = list(DOMAINS)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, name in enumerate(names):
            if progress is not None:
                progress(int(90 * index / len(names)), f"Writing {name}.csv")
            domain = DOMAINS[name]
            columns = domain.output_columns(deid)
            out = io.StringIO(newline="")
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow([column for column, _ in columns])
            rows = domain_rows(domain, trial, deid, sites=sites)
            kinds = {column: domain.output_kind(column, spec) for column, spec in columns}
            for row in rows:
                writer.writerow([text(row[column], kinds[column]) for column, _ in columns])
            content = out.getvalue().encode("utf-8")
            archive.writestr(f"{name}.csv", content)
            manifest["domains"][name] = {
                "file": f"{name}.csv", "code": domain.code, "label": domain.label, "rows": len(rows),
                "sha256": hashlib.sha256(content).hexdigest(),
                "columns": [{"name": column, "label": spec.label if spec else column, "type": kinds[column]}
                            for column, spec in columns],
            }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        archive.writestr("README.txt", README.format(trial=trial.code, title=trial.title,
                                                     when=manifest["generated_at"], identity=_identity_note(deid)))
    if progress is not None:
        progress(95, "Zip written")
    return buffer.getvalue()


@dataclass
class CsvExport:
    manifest: dict
    domains: dict[str, list[dict]]


def read_csv_export(data) -> CsvExport:
    """Read a CSV export (bytes, a path or a file) back: each domain's rows with their types restored; the
    files' row counts and SHA-256 checked against the manifest (ValueError naming the file otherwise)."""
    source = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    with zipfile.ZipFile(source) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        domains = {}
        for name, entry in manifest["domains"].items():
            content = archive.read(entry["file"])
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                raise ValueError(f"{entry['file']}: its SHA-256 differs from the manifest's")
            reader = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
            header = next(reader)
            kinds = {c["name"]: c["type"] for c in entry["columns"]}
            if header != list(kinds):
                raise ValueError(f"{entry['file']}: its header differs from the manifest's columns")
            rows = [{column: parse(cell, kinds[column]) for column, cell in zip(header, line, strict=True)}
                    for line in reader]
            if len(rows) != entry["rows"]:
                raise ValueError(f"{entry['file']}: {len(rows)} rows, the manifest says {entry['rows']}")
            domains[name] = rows
    return CsvExport(manifest=manifest, domains=domains)
