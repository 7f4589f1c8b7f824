"""The CTCAE v5.0 term list (NCI, public domain) shipped as ``subjects/data/ctcae_v5.csv``: 837 terms
with the text of each grade. Loaded by a data migration; ``manage.py load_ctcae`` reloads it into a
table that lost it (a restored dump without it)."""

from __future__ import annotations

import csv
from pathlib import Path

CSV = Path(__file__).resolve().parent / "data" / "ctcae_v5.csv"


def load(model) -> int:
    """Create the terms missing from ``model``'s table (the model or its historical version)."""
    with CSV.open(encoding="utf-8", newline="") as handle:
        rows = [
            model(meddra_code=r["meddra_code"], soc=r["soc"], term=r["term"].strip(), grade1=r["grade1"],
                  grade2=r["grade2"], grade3=r["grade3"], grade4=r["grade4"], grade5=r["grade5"],
                  definition=r["definition"])
            for r in csv.DictReader(handle)
        ]
    return len(model.objects.bulk_create(rows, ignore_conflicts=True))

