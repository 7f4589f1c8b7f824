"""``manage.py pk``: the pharmacokineticist's non-compartmental analysis from a CSV file, without the database.

Subcommand (contract in docs/pk.md; other tools parse the ``--json`` output)::

    pk nca --input FILE.csv --subject COL --time COL --conc COL --dose COL
           [--auc-method linear|linear-up-log-down] [--route extravascular|intravascular]
           [--blq-first keep|drop] [--blq-middle keep|drop] [--blq-last keep|drop] [--json]

The maths is the pure rule ``trialrules.nca`` (PKNCA's defaults). This command only reads the file, checks every
row before computing anything (one bad row, no output: a wrong number in a PK table must not pass silently), and
prints. CSV reading is ``trialsite.csvfile`` (shared with ``manage.py endpoints``, so both name file, row, line and
column the same way).
"""

from __future__ import annotations

import json
import math

from django.core.management.base import BaseCommand, CommandError

from trialrules.nca import AUC_METHODS, BLQ_RULES, ROUTES, NcaInputError, NcaOptions, NcaResult, Sample, nca
from trialsite.csvfile import CsvFile, Row

BLQ_TEXTS = ("BLQ", "<LLOQ", "BQL", "<LOQ")
KEYS = ("cmax", "tmax", "clast", "tlast", "lambda_z", "lambda_z_points", "lambda_z_adj_r2", "half_life",
        "auclast", "aucinf_obs", "auc_pct_extrap", "cl", "vz", "mrt")


def _number(source: CsvFile, row: Row, column: str) -> float:
    value = source.text(row, column)
    try:
        number = float(value)
    except ValueError:
        raise source.error(row, column, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise source.error(row, column, f"{value!r} is not a finite number")
    return number


def _conc(source: CsvFile, row: Row, column: str) -> float | None:
    """Empty = missing (None); BLQ text = 0 (documented in docs/pk.md); otherwise a number >= 0."""
    value = row.values[column].strip()
    if not value:
        return None
    if value.upper() in BLQ_TEXTS:
        return 0.0
    number = _number(source, row, column)
    if number < 0:
        raise source.error(row, column, f"{value!r} is negative (a concentration is 0 or more)")
    return number


class Command(BaseCommand):
    help = "Non-compartmental PK analysis (Cmax, AUC, λz, t½, CL, Vz, MRT) from a CSV file (no database)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{nca}")
        p = sub.add_parser("nca", help="NCA per subject, PKNCA defaults")
        p.add_argument("--input", required=True, metavar="FILE.csv", help="one row per sample")
        p.add_argument("--subject", required=True, metavar="COL", help="column of subject identifiers")
        p.add_argument("--time", required=True, metavar="COL", help="column of times after dose (>= 0)")
        p.add_argument("--conc", required=True, metavar="COL", help="concentrations (empty = missing, BLQ = 0)")
        p.add_argument("--dose", required=True, metavar="COL", help="column of the dose (one value per subject)")
        p.add_argument("--auc-method", choices=AUC_METHODS, default="linear-up-log-down")
        p.add_argument("--route", choices=ROUTES, default="extravascular")
        for position in ("first", "middle", "last"):
            p.add_argument(f"--blq-{position}", choices=BLQ_RULES, default=getattr(NcaOptions, f"blq_{position}"),
                           help=f"BLQ (0) {position} in the profile: keep as 0 or drop (PKNCA's default)")
        p.add_argument("--json", action="store_true", help="print a JSON list, one object per subject")

    def handle(self, *args, **options):
        cols = [options["subject"], options["time"], options["conc"], options["dose"]]
        source = CsvFile("--input", options["input"], cols)
        profiles: dict[str, list[Sample]] = {}
        doses: dict[str, tuple[float, Row]] = {}
        times: dict[tuple[str, float], Row] = {}
        for row in source.rows:
            subject = source.text(row, options["subject"])
            time = source.time(row, options["time"])
            conc = _conc(source, row, options["conc"])
            dose = _number(source, row, options["dose"])
            if dose <= 0:
                raise source.error(row, options["dose"], f"{dose:g} is not a positive dose")
            if (subject, time) in times:
                other = times[subject, time]
                raise source.error(row, options["time"], f"subject {subject!r} already has a sample at time {time:g} "
                                                         f"at row {other.number} (line {other.line})")
            times[subject, time] = row
            if subject in doses and doses[subject][0] != dose:
                first, where = doses[subject]
                raise source.error(row, options["dose"], f"subject {subject!r} has dose {first:g} at row "
                                                         f"{where.number} (line {where.line}); one dose per subject")
            doses.setdefault(subject, (dose, row))
            profiles.setdefault(subject, []).append(Sample(time, conc))

        rules = NcaOptions(auc_method=options["auc_method"], route=options["route"],
                           blq_first=options["blq_first"], blq_middle=options["blq_middle"],
                           blq_last=options["blq_last"])
        results: list[tuple[str, NcaResult]] = []
        for subject, samples in profiles.items():
            try:
                results.append((subject, nca(samples, doses[subject][0], rules)))
            except NcaInputError as exc:
                raise CommandError(f"{source.path}: subject {subject!r}: {exc}") from None

        if options["json"]:
            self.stdout.write(json.dumps([
                {"subject": subject, **{key: getattr(r, key) for key in KEYS}, "notes": list(r.notes)}
                for subject, r in results
            ]))
            return
        self.stdout.write(self._table(results))

    @staticmethod
    def _table(results: list[tuple[str, NcaResult]]) -> str:
        heads = ("subject", "Cmax", "Tmax", "AUClast", "AUCinf", "%extrap", "λz", "n", "t½", "CL", "Vz", "MRT")
        lines = []
        for subject, r in results:
            values = (r.cmax, r.tmax, r.auclast, r.aucinf_obs, r.auc_pct_extrap, r.lambda_z, r.lambda_z_points,
                      r.half_life, r.cl, r.vz, r.mrt)
            lines.append((subject, *("NA" if v is None else f"{v:.4g}" for v in values), "; ".join(r.notes)))
        width = max(len("subject"), *(len(line[0]) for line in lines))
        out = [f"{heads[0]:<{width}} " + " ".join(f"{h:>9}" for h in heads[1:]) + "  notes"]
        for line in lines:
            out.append(f"{line[0]:<{width}} " + " ".join(f"{v:>9}" for v in line[1:-1]) + f"  {line[-1]}".rstrip())
        return "\n".join(out)
