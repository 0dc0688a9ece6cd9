"""Benchmark: ``preview`` of the example sequence for many (zone, anchor) pairs.

Times :func:`dripsms.core.preview.preview` of ``sequences/postop.yaml`` for ``--n``
deterministic (zone, anchor date) pairs, breaks the per-step cost down (timeline,
template context, conditions, rendering, segment counting) and measures, in the same
run, the peers it is judged against: a bare baseline doing the irreducible work of a
step by hand (one wall-time resolution with ``zoneinfo`` plus one render of the same
template with a plain, non-sandboxed ``jinja2.Environment``) and one ``zoneinfo``
conversion. It also times the ``dripsms preview`` command end to end against the bare
interpreter start.

    .venv/bin/python bench/preview_bench.py [--n 10000] [--reps 3] [--write]

Prints a Markdown section; ``--write`` replaces the "## Preview" section of
``bench/results.md`` and leaves every other section alone.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import jinja2

from dripsms.catalog import load_file
from dripsms.clock import system_clock
from dripsms.core.context import sample_attributes, template_context
from dripsms.core.durations import clock_time
from dripsms.core.preview import preview
from dripsms.core.segments import count_segments
from dripsms.core.sequence.model import Sequence as DripSequence
from dripsms.core.templates import evaluate, render
from dripsms.core.timeline import plan_timeline
from reporting import RESULTS, cores, cpu_model, fmt, table, write_section

ROOT = Path(__file__).resolve().parent.parent
SEQUENCE_FILE = Path("sequences/postop.yaml")
SECTION = "## Preview"
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2036, 12, 31)
PHONE = "+15555550100"
FIXED_ANCHOR = date(2026, 3, 2)
FIXED_ZONE = "America/New_York"
CLI_NOW = "2026-03-01T12:00:00Z"  # pins the CLI's clock (DRIPSMS_NOW) so every run is alike

Pair = tuple[ZoneInfo, date]
Job = Callable[[Sequence[Pair]], object]


@dataclass(frozen=True, slots=True)
class Timing:
    """The best time of one job over all pairs, and how many units of work it did."""

    seconds: float
    units: int

    @property
    def per_unit_us(self) -> float:
        return self.seconds / self.units * 1e6


def make_pairs(n: int, seed: int) -> list[Pair]:
    """``n`` (zone, anchor date) pairs drawn from every IANA zone and 2000-2036."""
    rng = random.Random(seed)
    keys = sorted(available_timezones())  # sorted: set order differs between runs
    zones = {key: ZoneInfo(key) for key in keys}
    span = (LAST_DAY - FIRST_DAY).days
    return [
        (zones[rng.choice(keys)], FIRST_DAY + timedelta(days=rng.randrange(span + 1)))
        for _ in range(n)
    ]


def enrolled(anchor: date) -> datetime:
    """A deterministic enrollment instant for an anchor: noon UTC that day."""
    return datetime.combine(anchor, clock(12, 0), UTC)


def best_of(job: Job, pairs: Sequence[Pair], reps: int, warmup: int) -> float:
    """The best wall time of ``job(pairs)`` over ``reps`` runs, after a warm-up run.

    The garbage collector stays on, as it is in production; it is emptied before each run.
    """
    job(pairs[:warmup])
    best = float("inf")
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        job(pairs)
        best = min(best, time.perf_counter() - start)
    return best


class Jobs:
    """The measured jobs: dripsms's own code, piece by piece, and the hand-made peers."""

    def __init__(self, sequence: DripSequence) -> None:
        self.sequence = sequence
        self.steps = sequence.steps
        for step in self.steps:
            if step.at is None or step.at.time is None:
                raise SystemExit(f"{step.id}: the baseline expects 'at: {{days, time}}' steps")
        # (days, wall clock time) of each step, for the hand-made resolution.
        self.offsets = [
            (step.at.days, clock_time(step.at.time))
            for step in self.steps
            if step.at is not None and step.at.time is not None
        ]
        self.attributes = sample_attributes(sequence, high=False)
        zone = ZoneInfo(FIXED_ZONE)
        attrs = dict(self.attributes, **{sequence.anchor: FIXED_ANCHOR})
        self.contexts = [
            template_context(
                sequence,
                step_id=step.id,
                attributes=attrs,
                phone=PHONE,
                zone=zone,
                replies={},
                enrolled_at=enrolled(FIXED_ANCHOR),
            )
            for step in self.steps
        ]
        by_step = list(zip(self.steps, self.contexts, strict=True))
        self.bodies = [render(step.body, ctx) for step, ctx in by_step]
        self.conditions = [(step.when, ctx) for step, ctx in by_step if step.when is not None]
        plain = jinja2.Environment()
        plain.filters["date"] = lambda value, fmt="%Y-%m-%d": value.strftime(fmt)
        self.plain_templates = [plain.from_string(step.body) for step in self.steps]

    # dripsms
    def preview(self, pairs: Sequence[Pair]) -> object:
        sequence, rows = self.sequence, 0
        for zone, anchor in pairs:
            rows += len(preview(sequence, zone=zone, enrolled_at=enrolled(anchor), anchor=anchor))
        return rows

    def timeline(self, pairs: Sequence[Pair]) -> object:
        sequence, planned = self.sequence, 0
        for zone, anchor in pairs:
            planned += len(plan_timeline(sequence, zone=zone, anchor=anchor))
        return planned

    def context(self, pairs: Sequence[Pair]) -> object:
        sequence, name, made = self.sequence, self.sequence.anchor, 0
        for zone, anchor in pairs:
            attrs = dict(self.attributes, **{name: anchor})
            at = enrolled(anchor)
            for step in self.steps:
                template_context(
                    sequence, step_id=step.id, attributes=attrs, phone=PHONE, zone=zone,
                    replies={}, enrolled_at=at,
                )  # fmt: skip
                made += 1
        return made

    def evaluate(self, pairs: Sequence[Pair]) -> object:
        true = 0
        for _ in pairs:
            for condition, ctx in self.conditions:
                true += evaluate(condition, ctx)
        return true

    def render(self, pairs: Sequence[Pair]) -> object:
        sources = [(step.body, ctx) for step, ctx in zip(self.steps, self.contexts, strict=True)]
        size = 0
        for _ in pairs:
            for source, ctx in sources:
                size += len(render(source, ctx))
        return size

    def segments(self, pairs: Sequence[Pair]) -> object:
        bodies, total = self.bodies, 0
        for _ in pairs:
            for body in bodies:
                total += count_segments(body).segments
        return total

    # peers and limits
    def baseline(self, pairs: Sequence[Pair]) -> object:
        """Per step: the wall time to UTC by hand, and the body through plain Jinja2."""
        steps = list(zip(self.offsets, self.plain_templates, strict=True))
        base, name, size = self.contexts[0], self.sequence.anchor, 0
        for zone, anchor in pairs:
            ctx = dict(base, **{name: anchor})
            for (days, at), template in steps:
                wall = datetime.combine(anchor + timedelta(days=days), at)
                wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
                size += len(template.render(ctx))
        return size

    def resolve(self, pairs: Sequence[Pair]) -> object:
        """Per step: only the wall-time resolution of the baseline."""
        offsets, last = self.offsets, None
        for zone, anchor in pairs:
            for days, at in offsets:
                wall = datetime.combine(anchor + timedelta(days=days), at)
                last = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        return last

    def plain_render(self, pairs: Sequence[Pair]) -> object:
        """Per step: only the plain Jinja2 render of the baseline, with the fixed context."""
        jobs = list(zip(self.plain_templates, self.contexts, strict=True))
        size = 0
        for _ in pairs:
            for template, ctx in jobs:
                size += len(template.render(ctx))
        return size


def conversions(pairs: Sequence[Pair], steps: int) -> tuple[Job, int]:
    """One ``zoneinfo`` conversion (aware local wall time to UTC) per unit, walls made ahead."""
    walls = [
        (datetime.combine(anchor + timedelta(days=7 * i), clock(9, 0)), zone)
        for zone, anchor in pairs
        for i in range(steps)
    ]

    def job(part: Sequence[Pair]) -> object:
        last, count = None, len(part) * steps
        for wall, zone in walls if count == len(walls) else walls[:count]:
            last = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        return last

    return job, len(walls)


def time_command(command: list[str], runs: int, env: dict[str, str]) -> float:
    """Best wall time of a command over ``runs`` runs, after one warm-up run."""
    best = float("inf")
    for attempt in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode:
            last = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {last[0]}")
        if attempt:
            best = min(best, elapsed)
    return best


def run(n: int, reps: int, seed: int, cli_runs: int) -> list[str]:
    loaded = load_file(ROOT / SEQUENCE_FILE)
    sequence = loaded.sequence
    steps = len(sequence.steps)
    pairs = make_pairs(n, seed)
    zone_count = len({zone.key for zone, _ in pairs})
    jobs = Jobs(sequence)
    warmup = min(n, 500)

    def measure(job: Job, units_per_pair: int = steps) -> Timing:
        return Timing(best_of(job, pairs, reps, warmup), n * units_per_pair)

    started = time.perf_counter()
    rows = jobs.preview(pairs[:1])
    if rows != steps:
        raise SystemExit(f"expected {steps} rows per preview, got {rows}")
    print(f"timing preview of {n:,} pairs, best of {reps}...", file=sys.stderr)
    whole = measure(jobs.preview)
    parts = {
        "timeline only (`plan_timeline`)": measure(jobs.timeline),
        "template context (`template_context`)": measure(jobs.context),
        "`when` conditions (`evaluate`, fixed context)": measure(jobs.evaluate),
        "rendering alone (`render`, fixed context)": measure(jobs.render),
        "`count_segments` alone": measure(jobs.segments),
    }
    print("timing the peers...", file=sys.stderr)
    baseline = measure(jobs.baseline)
    resolve = measure(jobs.resolve)
    plain = measure(jobs.plain_render)
    convert_job, convert_units = conversions(pairs, steps)
    convert = Timing(best_of(convert_job, pairs, reps, warmup), convert_units)
    in_process = time.perf_counter() - started

    print(f"timing the CLI, best of {cli_runs}...", file=sys.stderr)
    bin_dir = Path(sys.executable).parent
    dripsms = bin_dir / "dripsms"
    if not dripsms.exists():
        dripsms = Path(shutil.which("dripsms") or "dripsms")
    env = dict(os.environ, DRIPSMS_NOW=CLI_NOW)
    cli_command = ["preview", str(SEQUENCE_FILE), "--tz", FIXED_ZONE, "--json"]
    interpreter = time_command([sys.executable, "-c", "pass"], cli_runs, env)
    imports = time_command([sys.executable, "-c", "import dripsms.cli.app"], cli_runs, env)
    cli = time_command([str(dripsms), *cli_command], cli_runs, env)

    per_step = whole.per_unit_us
    accounted = sum(t.seconds for t in parts.values())
    rest = Timing(whole.seconds - accounted, whole.units)
    now = system_clock()
    lines = [
        SECTION,
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC on {cores()} cores ({cpu_model()}), "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.platform()}. Reproduce: "
        f"`.venv/bin/python bench/preview_bench.py --n {n} --write` "
        "(`make bench` prints the same tables without writing).",
        "",
        f"Workload: `preview` of `{SEQUENCE_FILE}` ({steps} steps) for {n:,} (zone, anchor "
        f"date) pairs drawn with `random.Random({seed})` from {zone_count} of the "
        f"{len(available_timezones())} IANA zones and anchors {FIRST_DAY}..{LAST_DAY}. "
        f"Each line is the best of {reps} runs over all pairs after a warm-up, measured with "
        "`time.perf_counter` and the garbage collector on. Per step = total / (n x steps).",
        "",
        f"**dripsms per step = {fmt(per_step)} µs = {per_step / baseline.per_unit_us:.1f}x "
        f"the bare baseline ({fmt(baseline.per_unit_us)} µs) = "
        f"{per_step / convert.per_unit_us:.0f} zoneinfo conversions.**",
        "",
        "### Where the time of a step goes",
        "",
    ]
    breakdown = [
        [
            "**`preview` (whole)**",
            fmt(whole.seconds, 3),
            fmt(whole.seconds / n * 1e6, 1),
            f"**{fmt(per_step)}**",
            "100%",
        ]
    ]
    for name, timing in [*parts.items(), ("rest: rows, step lookups, glue (by difference)", rest)]:
        breakdown.append(
            [
                name,
                fmt(timing.seconds, 3),
                fmt(timing.seconds / n * 1e6, 1),
                fmt(timing.per_unit_us),
                f"{timing.seconds / whole.seconds:.0%}",
            ]
        )
    lines += table(
        ["what", f"total s (n={n:,})", "per preview µs", "per step µs", "share"], breakdown
    )
    lines += [
        "",
        "### Peers and limits, measured in the same run",
        "",
    ]
    sandbox = parts["rendering alone (`render`, fixed context)"]
    timeline = parts["timeline only (`plan_timeline`)"]
    peers = [
        [
            "bare baseline: wall time by hand + plain Jinja2 render",
            fmt(baseline.per_unit_us),
            f"dripsms per step = **{per_step / baseline.per_unit_us:.1f}x**",
        ],
        [
            "… wall time by hand (`combine` + `replace(tzinfo, fold=0).astimezone(UTC)`)",
            fmt(resolve.per_unit_us),
            f"`plan_timeline` per step = {timeline.per_unit_us / resolve.per_unit_us:.1f}x",
        ],
        [
            "… plain `jinja2.Environment` render, compiled once",
            fmt(plain.per_unit_us),
            f"sandboxed `render` = {sandbox.per_unit_us / plain.per_unit_us:.1f}x",
        ],
        [
            "one `zoneinfo` conversion (local wall time to UTC)",
            fmt(convert.per_unit_us, 3),
            f"dripsms per step = {per_step / convert.per_unit_us:.0f} conversions",
        ],
    ]
    lines += table(["peer / limit", "per step µs", "ratio"], peers)
    lines += [
        "",
        "### One-shot CLI (process start included)",
        "",
    ]
    command = f"dripsms {' '.join(cli_command)}"
    cli_rows = [
        ["`python -c pass` (interpreter start, the floor)", fmt(interpreter * 1e3, 1), "1.0x"],
        [
            "`python -c 'import dripsms.cli.app'`",
            fmt(imports * 1e3, 1),
            f"{imports / interpreter:.1f}x",
        ],
        [f"**`{command}`**", f"**{fmt(cli * 1e3, 1)}**", f"**{cli / interpreter:.1f}x**"],
    ]
    lines += table([f"command (best of {cli_runs})", "ms", "x interpreter start"], cli_rows)
    preview_ms = whole.seconds / n * 1e3
    lines += [
        "",
        f"The preview itself is {fmt(preview_ms, 3)} ms of the {fmt(cli * 1e3, 1)} ms "
        f"({preview_ms / (cli * 1e3):.2%}); the rest is interpreter start, imports, settings and "
        f"output. In-process measurements took {in_process:.0f} s.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000, help="(zone, anchor) pairs")
    parser.add_argument("--reps", type=int, default=3, help="runs of each job; the best counts")
    parser.add_argument("--seed", type=int, default=20260302, help="seed of the pairs")
    parser.add_argument("--cli-runs", type=int, default=5, help="runs of each command")
    parser.add_argument("--write", action="store_true", help=f"update {SECTION!r} in results.md")
    args: Any = parser.parse_args(argv)
    if args.n < 1 or args.reps < 1 or args.cli_runs < 1:
        parser.error("--n, --reps and --cli-runs must be at least 1")
    section = run(args.n, args.reps, args.seed, args.cli_runs)
    print("\n".join(section))
    if args.write:
        write_section(SECTION, section)
        print(f"wrote {SECTION!r} to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
