"""``manage.py escalation``: the decision engine and its operating characteristics from the shell.

Subcommands (no database access; the design comes from a protocol file or the options)::

    escalation recommend --protocol BAT6005 --outcomes "1N 2N 3G 3NN" [--json]
    escalation recommend --design 3+3 --levels 5 --outcomes - --json   < histories.txt
    escalation simulate  --protocol BAT6005 --true-dlt 0.02,0.05,0.1,0.2,0.35,0.5 --exact --json
    escalation simulate  --design 3+3 --levels 3 --true-dlt 0.1,0.2,0.4 --trials 10000 --seed 1
    escalation benchmark [--trials 100000]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trialrules.escalation import Decision, Design, OutcomeSyntaxError, parse_outcomes, recommend
from trialrules.protocol_design import ProtocolDesignError, design_from_protocol, level_labels
from trialrules.simulation import check_probabilities, clear_cache, exact, simulate
from trials.protocol_file import ProtocolFileError, read_protocol

BENCH_DLT = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5]
BENCH_TOX2 = [0.1] * 6
EXACT_TARGET_S = 0.2
SIMULATE_TARGET_S = 2.0


def protocols_dir() -> Path:
    return Path(settings.BASE_DIR) / "protocols"


def find_protocol(code: str, directory: Path | None = None) -> dict:
    """The parsed protocol file whose ``code`` is `code` (exact, else case-insensitive match)."""
    directory = directory or protocols_dir()
    found: dict[str, dict] = {}
    broken: list[str] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            definition = read_protocol(path)
        except ProtocolFileError as exc:
            broken.append(str(exc))
            continue
        found[definition.code] = definition.data
    if code in found:
        return found[code]
    folded = [c for c in found if c.casefold() == code.casefold()]
    if len(folded) == 1:
        return found[folded[0]]
    known = ", ".join(sorted(found)) or "none"
    message = f"--protocol: no protocol file in {directory} has code {code!r}; known codes: {known}"
    if broken:
        message += "; unreadable files: " + "; ".join(broken)
    raise CommandError(message)


def _probabilities(option: str, text: str, n_levels: int) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise CommandError(f"{option}: empty value in {text!r}; give {n_levels} comma-separated probabilities")
    try:
        return check_probabilities(option, parts, n_levels)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class Command(BaseCommand):
    help = "Dose-escalation recommendations and operating characteristics (no database access)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False
    stealth_options = ("stdin",)

    # ------------------------------------------------------------------------------------------
    # Arguments
    # ------------------------------------------------------------------------------------------

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{recommend,simulate,benchmark}")

        rec = sub.add_parser("recommend", help="recommend the next step from an outcome history")
        self._design_arguments(rec)
        rec.add_argument(
            "--outcomes",
            required=True,
            help='history in R escalation notation, e.g. "1N 2N 3G 3NN" (N no DLT, T DLT, G grade>=2 '
            'non-DLT); "-" reads one history per line from stdin (blank lines skipped)',
        )
        rec.add_argument("--json", action="store_true", help="print a JSON object (one per line with -)")

        sim = sub.add_parser("simulate", help="operating characteristics for true DLT probabilities")
        self._design_arguments(sim)
        sim.add_argument("--true-dlt", required=True, help="P(DLT) per dose level, comma separated")
        sim.add_argument(
            "--true-tox2",
            help="P(drug-related grade>=2 non-DLT toxicity | no DLT) per level, comma separated (default 0)",
        )
        how = sim.add_mutually_exclusive_group(required=True)
        how.add_argument("--exact", action="store_true", help="enumerate every path of the trial")
        how.add_argument("--trials", type=_positive_int, help="number of Monte Carlo trials")
        sim.add_argument("--seed", type=int, help="random seed for --trials (required with --trials)")
        sim.add_argument("--json", action="store_true", help="print a JSON object")

        bench = sub.add_parser("benchmark", help="time the exact and Monte Carlo computations for BAT6005")
        bench.add_argument("--trials", type=_positive_int, default=100_000, help="Monte Carlo trials (100000)")
        bench.add_argument("--seed", type=int, default=2024)

    @staticmethod
    def _design_arguments(parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--protocol", metavar="CODE", help="protocol code of a file in protocols/")
        source.add_argument("--design", choices=["3+3"], help="plain 3+3 (with --levels)")
        parser.add_argument("--levels", type=_positive_int, help="number of dose levels (with --design)")
        parser.add_argument("--allow-deescalate", action="store_true", help="with --design: Korn de-escalation")
        parser.add_argument(
            "--six-to-declare", action="store_true", help="with --design: 6 evaluable before MTD/MAD"
        )

    # ------------------------------------------------------------------------------------------
    # Design
    # ------------------------------------------------------------------------------------------

    def _design(self, options) -> tuple[Design, list[str] | None, str]:
        if options["protocol"]:
            for flag in ("levels", "allow_deescalate", "six_to_declare"):
                if options[flag]:
                    raise CommandError(f"--{flag.replace('_', '-')} goes with --design, not --protocol")
            data = find_protocol(options["protocol"])
            try:
                design = design_from_protocol(data)
            except ProtocolDesignError as exc:
                raise CommandError(f"--protocol: {exc}") from None
            return design, level_labels(data), data["code"]
        if not options["levels"]:
            raise CommandError("--levels: required with --design (number of dose levels)")
        design = Design(
            n_levels=options["levels"],
            allow_deescalate=options["allow_deescalate"],
            six_to_declare=options["six_to_declare"],
        )
        return design, None, f"3+3 over {design.n_levels} levels"

    # ------------------------------------------------------------------------------------------
    # Handlers
    # ------------------------------------------------------------------------------------------

    def handle(self, *args, **options):
        return getattr(self, f"_handle_{options['subcommand']}")(options)

    def _handle_recommend(self, options):
        design, labels, _name = self._design(options)
        if options["outcomes"] == "-":
            stream = options.get("stdin") or sys.stdin
            lines = [(number, line.strip()) for number, line in enumerate(stream.read().splitlines(), 1)]
            histories = [(number, text) for number, text in lines if text]
            # Check every line before printing anything: one bad line, no output.
            parsed = [(text, self._parse(design, text, f"--outcomes (stdin line {number})"))
                      for number, text in histories]
        else:
            text = options["outcomes"]
            parsed = [(text, self._parse(design, text, "--outcomes"))]
        for text, outcomes in parsed:
            decision = recommend(design, outcomes, labels=labels)
            if options["json"]:
                self.stdout.write(json.dumps(decision.as_json()))
            else:
                self.stdout.write(self._human(text, decision))

    @staticmethod
    def _parse(design: Design, text: str, where: str):
        try:
            outcomes = parse_outcomes(text)
        except OutcomeSyntaxError as exc:
            raise CommandError(f"{where}: {exc}") from None
        for position, token in enumerate(text.split(), 1):
            digits = token[: len(token) - len(token.lstrip("0123456789"))]
            if int(digits) > design.n_levels:
                raise CommandError(
                    f"{where}: invalid outcome group {token!r} (group {position}): dose level {int(digits)} "
                    f"is beyond the {design.n_levels} dose levels of the design"
                )
        return outcomes

    @staticmethod
    def _human(text: str, d: Decision) -> str:
        history = text.strip() or "(no subjects yet)"
        if d.continue_trial:
            action = f"continue: add {d.add_subjects} subject(s) at level {d.next_dose_level}"
        elif d.recommended_dose_level is None:
            action = "stop: no tolerable dose"
        else:
            action = f"stop: {d.declared or 'recommended dose'} = level {d.recommended_dose_level}"
        return f"{history} -> {action} ({d.rationale})"

    def _handle_simulate(self, options):
        design, _labels, name = self._design(options)
        p = _probabilities("--true-dlt", options["true_dlt"], design.n_levels)
        q = _probabilities("--true-tox2", options["true_tox2"], design.n_levels) if options["true_tox2"] else None
        if options["exact"]:
            if options["seed"] is not None:
                raise CommandError("--seed goes with --trials, not --exact")
            oc = exact(design, p, q)
        else:
            if options["seed"] is None:
                raise CommandError("--seed: required with --trials (results must be reproducible)")
            oc = simulate(design, p, q, trials=options["trials"], seed=options["seed"])
        if options["json"]:
            self.stdout.write(json.dumps(oc.as_json()))
            return
        how = "exact enumeration" if oc.method == "exact" else f"Monte Carlo, {oc.trials} trials"
        self.stdout.write(f"{name} ({how})")
        self.stdout.write(f"{'level':>6} {'true DLT':>9} {'P(select)':>10} {'E[subjects]':>12} {'E[DLTs]':>9}")
        self.stdout.write(f"{'none':>6} {'':>9} {oc.select[0]:>10.4f}")
        for i in range(design.n_levels):
            self.stdout.write(
                f"{i + 1:>6} {p[i]:>9.3f} {oc.select[i + 1]:>10.4f} "
                f"{oc.expected_subjects[i]:>12.3f} {oc.expected_dlts[i]:>9.3f}"
            )
        self.stdout.write(f"expected total subjects: {oc.expected_total_subjects:.3f}")

    def _handle_benchmark(self, options):
        design = design_from_protocol(find_protocol("BAT6005"))
        p, q = BENCH_DLT[: design.n_levels], BENCH_TOX2[: design.n_levels]
        reps = 5
        cold, warm = [], []
        for _ in range(reps):
            clear_cache()  # cold: includes building the state graph (the engine calls)
            start = time.perf_counter()
            exact(design, p, q)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            exact(design, p, q)
            warm.append(time.perf_counter() - start)
        clear_cache()
        trials = options["trials"]
        start = time.perf_counter()
        simulate(design, p, q, trials=trials, seed=options["seed"])
        mc = time.perf_counter() - start

        def verdict(seconds: float, target: float) -> str:
            return "OK" if seconds < target else "TOO SLOW"

        best = min(cold)
        self.stdout.write(f"BAT6005, true DLT {','.join(map(str, p))}, true tox2 {','.join(map(str, q))}")
        self.stdout.write(
            f"exact: {best:.4f} s (best of {reps}, cold incl. engine calls; target < {EXACT_TARGET_S} s) "
            f"{verdict(best, EXACT_TARGET_S)}; warm (state graph cached): {min(warm):.4f} s"
        )
        self.stdout.write(
            f"monte carlo: {trials} trials in {mc:.4f} s (cold incl. engine calls; target < {SIMULATE_TARGET_S} s) "
            f"{verdict(mc, SIMULATE_TARGET_S)}"
        )
