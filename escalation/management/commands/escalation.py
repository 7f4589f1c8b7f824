"""``manage.py escalation``: the decision engine and its operating characteristics from the shell.

Subcommands (no database access; the design comes from a protocol file or the options)::

    escalation recommend --protocol BAT6005 --outcomes "1N 2N 3G 3NN" [--json]
    escalation recommend --design 3+3 --levels 5 --outcomes - --json   < histories.txt
    escalation simulate  --protocol BAT6005 --true-dlt 0.02,0.05,0.1,0.2,0.35,0.5 --exact --json
    escalation simulate  --design 3+3 --levels 3 --true-dlt 0.1,0.2,0.4 --trials 10000 --seed 1
    escalation recommend --design boin --target 0.25 --levels 5 [--cohort-size 3] --outcomes "1NNN 2NTN" --json
    escalation recommend --design crm --skeleton 0.05,0.1,0.25,0.4,0.6 --target 0.25 [--model logistic]
                         [--intercept 3] [--prior-sd 1.158] --outcomes "1NNN 2NTN" --json
    escalation boundaries --design boin --target 0.3 --cohort-size 3 --max-n 30 --json
    escalation simulate  --design boin --levels 5 --target 0.3 --max-n 30 --true-dlt ... --trials 2000 --seed 1
    escalation simulate  --protocol BAT6005 --true-dlt ... --trials 2000 --seed 1 --compare boin,crm --target 0.3
                         [--max-n 30] --skeleton ...
    escalation pathways  (--protocol CODE | --design ...) [--outcomes "..."] --cohorts 2 --json
    escalation benchmark [--trials 100000]

docs/escalation.md ("Command line") documents every option and JSON key.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trialrules import boin, crm, model_designs, model_simulation, pathways
from trialrules.escalation import Decision, Design, OutcomeSyntaxError, parse_outcomes, recommend
from trialrules.model_designs import BoinDesign, CrmDesign
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


MODEL_FLAGS = ("target", "cohort_size", "max_n", "skeleton", "model", "intercept", "prior_sd")
CRM_FLAGS = ("skeleton", "model", "intercept", "prior_sd")
# First word of a ValueError of trialrules.boin / crm / model_designs -> the option it comes from.
_FIELD_OPTIONS = {
    "target": "--target", "p_tox": "--target", "p_saf": "--target", "cohort_size": "--cohort-size",
    "max_n": "--max-n", "n_levels": "--levels", "skeleton": "--skeleton", "model": "--model",
    "intercept": "--intercept", "prior_sd": "--prior-sd",
}


def _opt(flag: str) -> str:
    return "--" + flag.replace("_", "-")


def _option_error(exc: ValueError) -> CommandError:
    text = str(exc)
    first = text.split(" ", 1)[0].rstrip(":")
    option = _FIELD_OPTIONS.get(first)
    return CommandError(f"{option}: {text}" if option else text)


def _number(option: str, text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CommandError(f"{option}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CommandError(f"{option}: {text!r} is not a finite number")
    return value


def _numbers(option: str, text: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    values = []
    for i, part in enumerate(parts, 1):
        if not part:
            raise CommandError(f"{option}: empty value for level {i} in {text!r}")
        try:
            values.append(float(part))
        except ValueError:
            raise CommandError(f"{option}: value {part!r} for level {i} is not a number") from None
    return values


def _model_name(design) -> str:
    if isinstance(design, BoinDesign):
        return f"BOIN, target {design.target:g}, {design.n_levels} levels, cohorts of {design.cohort_size}" + (
            f", max_n {design.max_n}" if design.max_n else "")
    return (f"CRM ({design.model}), target {design.target:g}, skeleton {','.join(f'{s:g}' for s in design.skeleton)}"
            f", cohorts of {design.cohort_size}" + (f", max_n {design.max_n}" if design.max_n else ""))


class Command(BaseCommand):
    help = "Dose-escalation recommendations, boundaries, pathways and operating characteristics (no database access)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False
    stealth_options = ("stdin",)

    # ------------------------------------------------------------------------------------------
    # Arguments
    # ------------------------------------------------------------------------------------------

    def add_arguments(self, parser):
        sub = parser.add_subparsers(
            dest="subcommand", required=True, metavar="{recommend,simulate,boundaries,pathways,benchmark}"
        )

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
            help="P(drug-related grade>=2 non-DLT toxicity | no DLT) per level, comma separated (default 0; "
            "the rule-based design only)",
        )
        how = sim.add_mutually_exclusive_group(required=True)
        how.add_argument("--exact", action="store_true", help="enumerate every path of the trial")
        how.add_argument("--trials", type=_positive_int, help="number of Monte Carlo trials")
        sim.add_argument("--seed", type=int, help="random seed for --trials (required with --trials)")
        sim.add_argument(
            "--compare", metavar="DESIGNS",
            help="also simulate these model-based designs on the same scenario, comma separated (boin,crm)",
        )
        sim.add_argument("--json", action="store_true", help="print a JSON object")

        bnd = sub.add_parser("boundaries", help="BOIN escalation / de-escalation / elimination boundaries")
        bnd.add_argument("--design", required=True, choices=["boin"], help="boin")
        bnd.add_argument("--target", required=True, help="target DLT rate, strictly between 0 and 1")
        bnd.add_argument("--cohort-size", type=_positive_int, default=3, help="cohort size (3)")
        bnd.add_argument("--max-n", type=_positive_int, required=True, help="largest n (a multiple of the cohort size)")
        bnd.add_argument("--json", action="store_true", help="print a JSON object")

        path = sub.add_parser("pathways", help="every possible decision for the next K cohorts (a tree)")
        self._design_arguments(path)
        path.add_argument("--outcomes", default="", help="starting history (default: no subjects yet)")
        path.add_argument("--cohorts", type=_positive_int, required=True, help="number of cohorts ahead (K)")
        path.add_argument("--json", action="store_true", help="print a JSON object")

        bench = sub.add_parser("benchmark", help="time the exact and Monte Carlo computations for BAT6005")
        bench.add_argument("--trials", type=_positive_int, default=100_000, help="Monte Carlo trials (100000)")
        bench.add_argument("--seed", type=int, default=2024)

    @staticmethod
    def _design_arguments(parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--protocol", metavar="CODE", help="protocol code of a file in protocols/")
        source.add_argument("--design", choices=["3+3", "boin", "crm"], help="plain 3+3, BOIN or CRM")
        parser.add_argument("--levels", type=_positive_int, help="number of dose levels (3+3, boin; crm: checked)")
        parser.add_argument("--allow-deescalate", action="store_true", help="with --design 3+3: Korn de-escalation")
        parser.add_argument(
            "--six-to-declare", action="store_true", help="with --design 3+3: 6 evaluable before MTD/MAD"
        )
        parser.add_argument("--target", help="boin, crm: target DLT rate, strictly between 0 and 1")
        parser.add_argument("--cohort-size", type=_positive_int, help="boin, crm: cohort size (3)")
        parser.add_argument("--max-n", type=_positive_int, help="boin, crm: maximum sample size (multiple of cohorts)")
        parser.add_argument("--skeleton", help="crm: prior DLT probability per level, comma separated, increasing")
        parser.add_argument("--model", choices=list(crm.MODELS), help="crm: working model (empiric)")
        parser.add_argument("--intercept", help="crm --model logistic: fixed intercept a0 (3)")
        parser.add_argument("--prior-sd", help="crm: prior standard deviation of beta (sqrt(1.34) = 1.158)")

    # ------------------------------------------------------------------------------------------
    # Designs
    # ------------------------------------------------------------------------------------------

    @staticmethod
    def _given(options, flags) -> list[str]:
        return [f for f in flags if options.get(f) not in (None, False)]

    def _design(self, options, *, allow_model_options: bool = False):
        """(design, labels, name, key): the engine's Design, a BoinDesign or a CrmDesign."""
        kind = options["design"]
        if options["protocol"] or kind == "3+3":
            where = "--protocol" if options["protocol"] else "--design 3+3"
            if not allow_model_options:
                for flag in self._given(options, MODEL_FLAGS):
                    raise CommandError(f"{_opt(flag)} goes with --design boin or crm, not {where}")
        if options["protocol"]:
            for flag in ("levels", "allow_deescalate", "six_to_declare"):
                if options[flag]:
                    raise CommandError(f"{_opt(flag)} goes with --design, not --protocol")
            data = find_protocol(options["protocol"])
            self._protocol_data = data
            try:
                design = design_from_protocol(data)
            except ProtocolDesignError as exc:
                raise CommandError(f"--protocol: {exc}") from None
            return design, level_labels(data), data["code"], "protocol"
        for flag in ("allow_deescalate", "six_to_declare"):
            if options[flag] and kind != "3+3":
                raise CommandError(f"{_opt(flag)} goes with --design 3+3, not --design {kind}")
        if kind == "3+3":
            if not options["levels"]:
                raise CommandError("--levels: required with --design (number of dose levels)")
            design = Design(
                n_levels=options["levels"],
                allow_deescalate=options["allow_deescalate"],
                six_to_declare=options["six_to_declare"],
            )
            return design, None, f"3+3 over {design.n_levels} levels", "3+3"
        design = self._model_design(
            kind, options, options["levels"], options["cohort_size"], options["max_n"], compared=allow_model_options
        )
        return design, None, _model_name(design), kind

    @staticmethod
    def _model_design(
        kind: str, options, levels: int | None, cohort_size: int | None, max_n: int | None, compared: bool = False
    ):
        """A BoinDesign / CrmDesign from the options (`compared`: one of the designs of --compare)."""
        if kind == "boin":
            for flag in () if compared else CRM_FLAGS:
                if options.get(flag) is not None:
                    raise CommandError(f"{_opt(flag)} goes with crm, not boin")
            if not levels:
                raise CommandError("--levels: required with --design boin (number of dose levels)")
        if options.get("target") is None:
            raise CommandError(f"--target: required with {kind} (target DLT rate, strictly between 0 and 1)")
        target = _number("--target", options["target"])
        try:
            if kind == "boin":
                return BoinDesign(target=target, n_levels=levels, cohort_size=cohort_size or 3, max_n=max_n)
            if options.get("skeleton") is None:
                raise CommandError("--skeleton: required with crm (prior DLT probability per level)")
            skeleton = _numbers("--skeleton", options["skeleton"])
            if levels and len(skeleton) != levels:
                raise CommandError(f"--skeleton: {len(skeleton)} values, but the design has {levels} dose levels")
            model = options.get("model") or "empiric"
            if options.get("intercept") is not None and model != "logistic":
                raise CommandError("--intercept goes with --model logistic (the empiric model has no intercept)")
            extra = {}
            if options.get("intercept") is not None:
                extra["intercept"] = _number("--intercept", options["intercept"])
            if options.get("prior_sd") is not None:
                extra["prior_sd"] = _number("--prior-sd", options["prior_sd"])
            return CrmDesign(skeleton=tuple(skeleton), target=target, model=model, cohort_size=cohort_size or 3,
                             max_n=max_n, **extra)
        except ValueError as exc:
            raise _option_error(exc) from None

    # ------------------------------------------------------------------------------------------
    # Handlers
    # ------------------------------------------------------------------------------------------

    def handle(self, *args, **options):
        return getattr(self, f"_handle_{options['subcommand']}")(options)

    @staticmethod
    def _decide(design, outcomes, labels) -> Decision:
        if isinstance(design, Design):
            return recommend(design, outcomes, labels=labels)
        return model_designs.recommend(design, outcomes)

    def _handle_recommend(self, options):
        design, labels, _name, _key = self._design(options)
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
            decision = self._decide(design, outcomes, labels)
            if options["json"]:
                self.stdout.write(json.dumps(decision.as_json()))
            else:
                self.stdout.write(self._human(text, decision))

    @staticmethod
    def _parse(design, text: str, where: str):
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
    def _action(d: Decision) -> str:
        if d.continue_trial:
            return f"continue: add {d.add_subjects} subject(s) at level {d.next_dose_level}"
        if d.recommended_dose_level is None:
            return "stop: no tolerable dose"
        return f"stop: {d.declared or 'recommended dose'} = level {d.recommended_dose_level}"

    @classmethod
    def _human(cls, text: str, d: Decision) -> str:
        history = text.strip() or "(no subjects yet)"
        line = f"{history} -> {cls._action(d)} ({d.rationale})"
        pm = getattr(d, "posterior_mean", None)
        if pm is not None:
            line += f" [posterior mean: {', '.join(f'{p:.3f}' for p in pm)}]"
        return line

    # simulate ---------------------------------------------------------------------------------

    def _run(self, design, p, q, options):
        """Operating characteristics of one design, exact or Monte Carlo as the options say."""
        if isinstance(design, Design):
            if options["exact"]:
                return exact(design, p, q)
            return simulate(design, p, q, trials=options["trials"], seed=options["seed"])
        if options["exact"]:
            try:
                return model_simulation.exact(design, p)
            except ValueError as exc:
                raise CommandError(f"--exact: {exc}") from None
        return model_simulation.simulate(design, p, trials=options["trials"], seed=options["seed"])

    def _handle_simulate(self, options):
        compare = self._compare_list(options)
        design, _labels, name, key = self._design(options, allow_model_options=bool(compare))
        is_rule = isinstance(design, Design)
        if options["exact"] and options["seed"] is not None:
            raise CommandError("--seed goes with --trials, not --exact")
        if not options["exact"] and options["seed"] is None:
            raise CommandError("--seed: required with --trials (results must be reproducible)")
        if not is_rule and design.max_n is None:
            raise CommandError(f"--max-n: required to simulate --design {key} (maximum sample size)")
        p = _probabilities("--true-dlt", options["true_dlt"], design.n_levels)
        q = None
        if options["true_tox2"]:
            if not is_rule:
                raise CommandError(f"--true-tox2 goes with the rule-based design, not --design {key}")
            q = _probabilities("--true-tox2", options["true_tox2"], design.n_levels)
        oc = self._run(design, p, q, options)
        if not compare:
            if options["json"]:
                self.stdout.write(json.dumps(oc.as_json()))
                return
            self._oc_table(name, oc, p)
            return

        if key in compare:
            raise CommandError(f"--compare: {key} is already the design being simulated")
        if key == "protocol":
            options = self._protocol_model_defaults(options, compare)
        cohort_size = options["cohort_size"] or design.cohort_size
        max_n = options["max_n"] if is_rule else design.max_n
        if max_n is None:  # the rule's expected sample size, rounded up to whole cohorts
            max_n = max(cohort_size, cohort_size * math.ceil(oc.expected_total_subjects / cohort_size - 1e-9))
        if is_rule:
            if "crm" not in compare:
                for flag in self._given(options, CRM_FLAGS):
                    raise CommandError(f"{_opt(flag)} goes with --compare crm")
            if options["target"] is None:
                raise CommandError("--target: required with --compare (target DLT rate of boin/crm)")
        results = {key: oc}
        models = {}
        for other in compare:
            model = models[other] = self._model_design(other, options, design.n_levels, cohort_size, max_n,
                                                       compared=True)
            results[other] = self._run(model, p, None, options)
        if options["json"]:
            self.stdout.write(json.dumps({
                "designs": {k: v.as_json() for k, v in results.items()},
                "true_dlt": p,
                "max_n": max_n,
                "cohort_size": cohort_size,
                "target": next(iter(models.values())).target,
            }))
            return
        self._compare_table(name, results, p, models)

    def _protocol_model_defaults(self, options, compare: list[str]) -> dict:
        """Options not given on the command line from the protocol's ``[escalation.model_based]`` table
        (target, cohort_size; with crm also skeleton, crm_model, intercept, prior_sd)."""
        table = (self._protocol_data.get("escalation") or {}).get("model_based") or {}
        options = dict(options)
        fill = {"target": table.get("target"), "cohort_size": table.get("cohort_size")}
        if "crm" in compare:
            skeleton = table.get("skeleton")
            model = options["model"] or table.get("crm_model")
            fill |= {
                "skeleton": ",".join(str(v) for v in skeleton) if skeleton else None,
                "model": model,
                "intercept": table.get("intercept") if model == "logistic" else None,
                "prior_sd": table.get("prior_sd"),
            }
        for name, value in fill.items():
            if options.get(name) is None and value is not None:
                options[name] = value if name == "cohort_size" else str(value)
        return options

    @staticmethod
    def _compare_list(options) -> list[str]:
        if not options.get("compare"):
            return []
        names = [n.strip() for n in options["compare"].split(",")]
        for n in names:
            if n not in ("boin", "crm"):
                raise CommandError(f"--compare: unknown design {n!r}; choose from boin, crm (comma separated)")
        if len(set(names)) != len(names):
            raise CommandError(f"--compare: a design is named twice in {options['compare']!r}")
        return names

    @staticmethod
    def _how(oc) -> str:
        return "exact enumeration" if oc.method == "exact" else f"Monte Carlo, {oc.trials} trials"

    def _oc_table(self, name, oc, p):
        self.stdout.write(f"{name} ({self._how(oc)})")
        self.stdout.write(f"{'level':>6} {'true DLT':>9} {'P(select)':>10} {'E[subjects]':>12} {'E[DLTs]':>9}")
        self.stdout.write(f"{'none':>6} {'':>9} {oc.select[0]:>10.4f}")
        for i in range(len(p)):
            self.stdout.write(
                f"{i + 1:>6} {p[i]:>9.3f} {oc.select[i + 1]:>10.4f} "
                f"{oc.expected_subjects[i]:>12.3f} {oc.expected_dlts[i]:>9.3f}"
            )
        self.stdout.write(f"expected total subjects: {oc.expected_total_subjects:.3f}")

    def _compare_table(self, name, results, p, models):
        first = next(iter(results.values()))
        self.stdout.write(f"{name} vs {', '.join(models)} ({self._how(first)}; same true DLT probabilities)")
        for k, model in models.items():
            self.stdout.write(f"  {k}: {_model_name(model)}, start at level 1")
        width = 27
        self.stdout.write(f"{'':16}" + "".join(f" | {k:<{width}}" for k in results))
        sub = f"{'P(sel)':>7} {'E[subj]':>9} {'E[DLT]':>8}"
        self.stdout.write(f"{'level':>6} {'true DLT':>9}" + "".join(f" | {sub:<{width}}" for _ in results))
        none = "".join(f" | {oc.select[0]:>7.4f}{'':<20}" for oc in results.values())
        self.stdout.write(f"{'none':>6} {'':>9}{none}")
        for i in range(len(p)):
            cells = "".join(
                f" | {oc.select[i + 1]:>7.4f} {oc.expected_subjects[i]:>9.3f} {oc.expected_dlts[i]:>8.3f} "
                for oc in results.values()
            )
            self.stdout.write(f"{i + 1:>6} {p[i]:>9.3f}{cells}")
        self.stdout.write(f"{'total':>6} {'':>9}" + "".join(
            f" | {'':>7} {oc.expected_total_subjects:>9.3f} {sum(oc.expected_dlts):>8.3f} " for oc in results.values()
        ))

    # boundaries -------------------------------------------------------------------------------

    def _handle_boundaries(self, options):
        target = _number("--target", options["target"])
        c, max_n = options["cohort_size"], options["max_n"]
        try:
            design = BoinDesign(target=target, n_levels=1, cohort_size=c, max_n=max_n)
        except ValueError as exc:
            raise _option_error(exc) from None
        b = design.boundaries()
        rows = boin.boundary_table(target, cohort_size=c, max_n=max_n)
        if options["json"]:
            self.stdout.write(json.dumps({
                "design": "boin",
                "target": target,
                "cohort_size": c,
                "lambda_e": b.lambda_e,
                "lambda_d": b.lambda_d,
                "rows": [
                    {"n": r.n, "escalate_if_at_most": r.escalate_max, "deescalate_if_at_least": r.deescalate_min,
                     "eliminate_if_at_least": r.eliminate_min}
                    for r in rows
                ],
            }))
            return
        self.stdout.write(
            f"BOIN boundaries, target {target:g} (λe {b.lambda_e:.4f}, λd {b.lambda_d:.4f}; p_saf 0.6 target, "
            f"p_tox 1.4 target; elimination P(DLT rate > target) > 0.95), cohorts of {c}"
        )
        labels = [("number of patients treated", lambda r: r.n), ("escalate if # of DLT <=", lambda r: r.escalate_max),
                  ("de-escalate if # of DLT >=", lambda r: r.deescalate_min),
                  ("eliminate if # of DLT >=", lambda r: "NA" if r.eliminate_min is None else r.eliminate_min)]
        for label, get in labels:
            self.stdout.write(f"{label:<28}" + "".join(f"{get(r)!s:>4}" for r in rows))

    # pathways ---------------------------------------------------------------------------------

    def _handle_pathways(self, options):
        design, labels, name, key = self._design(options)
        text = options["outcomes"]
        start = self._parse(design, text, "--outcomes")
        try:
            first, tree = pathways.pathways_for(design, start, options["cohorts"], labels=labels)
        except pathways.PathwaysTooLarge as exc:
            raise CommandError(str(exc).replace("cohorts:", "--cohorts:", 1)) from None
        if options["json"]:
            data = {"design": key}
            if key == "protocol":
                data["protocol"] = name
            data.update({
                "start": text,
                "cohorts": options["cohorts"],
                "decision": first.as_json(),
                "pathways": [node.as_json() for node in tree],
            })
            self.stdout.write(json.dumps(data))
            return
        self.stdout.write(f"{name}: pathways for the next {options['cohorts']} cohort(s)")
        self.stdout.write(self._human(text, first))

        def show(nodes, depth):
            for node in nodes:
                g = f", {node.tox2} G" if node.tox2 else ""
                self.stdout.write(
                    f"{'  ' * depth}cohort {node.cohort}: {node.dlts}/{node.subjects} DLT{g} at level {node.level}"
                    f" -> {node.outcomes} -> {self._action(node.decision)}"
                )
                show(node.next, depth + 1)

        show(tree, 1)

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
