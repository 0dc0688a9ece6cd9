"""Everything the CLI prints. The only module that imports Rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dripsms.core.preview import SKIPPED, WAITING, PreviewRow, format_utc
from dripsms.core.states import MessageState
from dripsms.errors import Problem

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """JSON on stdout, for scripts."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def problem_json(problem: Problem, severity: str) -> dict[str, Any]:
    """A problem as ``validate --json`` prints it."""
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "field": problem.field,
        "message": problem.message,
        "severity": severity,
    }


def problems(errors: Sequence[Problem], warnings: Sequence[Problem], files: int) -> None:
    """``file:line:col: message`` lines (what editors and CI annotators parse), then a total."""
    for problem in errors:
        out.print(str(problem), markup=False)
    for problem in warnings:
        out.print(
            f"{problem.file}:{problem.line}:{problem.column}: warning: ", end="", markup=False
        )
        out.print(f"{problem.field}: {problem.message}" if problem.field else problem.message,
                  markup=False)  # fmt: skip
    noun = "file" if files == 1 else "files"
    if errors:
        err.print(f"[red]{len(errors)} error(s)[/] in {files} {noun}")
    else:
        extra = f", {len(warnings)} warning(s)" if warnings else ""
        err.print(f"[green]ok[/]: {files} {noun} valid{extra}")


def _folded_table(columns: Sequence[str], **options: Any) -> Table:
    """A table with these columns, each folding a long value onto more lines."""
    table = Table(**options)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def preview_table(title: str, rows: Sequence[PreviewRow]) -> None:
    """The preview as a table: step, local time, UTC, body, encoding, segments."""
    table = _folded_table(
        ("step", "local time", "UTC", "body", "encoding", "seg."),
        title=title,
        show_lines=True,
        title_justify="left",
    )
    for row in rows:
        local = row.due_local.strftime("%a %Y-%m-%d %H:%M %Z") if row.due_local else "—"
        utc = format_utc(row.due_utc) if row.due_utc else "—"
        step = row.step
        if row.status in (SKIPPED, WAITING) or row.note:
            step += f"\n[dim]{row.status}{': ' + row.note if row.note else ''}[/]"
        style = "dim" if row.status == SKIPPED else None
        table.add_row(
            step, local, utc, _escape(row.body), row.encoding, str(row.segments), style=style
        )
    out.print(table)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def error(message: str) -> None:
    """An error for a person, on stderr."""
    err.print(f"[red]error[/]: {_escape(message)}")


def wrote(paths: Sequence[Any]) -> None:
    """What ``init`` created."""
    for path in paths:
        out.print(f"wrote {path}", markup=False)


# -- the engine's commands -------------------------------------------------------------------


def migrated(before: str | None, head: str) -> None:
    """What ``db upgrade`` did."""
    if before == head:
        err.print(f"the database is up to date (revision {head})")
    else:
        err.print(f"[green]migrated[/] the database from {before or 'empty'} to {head}")


def _local(instant: Any, zone: str) -> str:
    from zoneinfo import ZoneInfo

    if instant is None:
        return "—"
    return str(instant.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z"))


def enrolled(result: Any, *, as_json: bool) -> None:
    """The enrollment and its planned messages."""
    prepared = result.prepared
    rows = [
        {
            "step": m.step_id,
            "state": m.state.value,
            "due_utc": format_utc(m.due_at) if m.due_at else None,
            "due_local": _iso_local(m.due_at, prepared.timezone),
        }
        for m in prepared.messages
    ]
    if as_json:
        print_json(
            {
                "enrollment_id": result.enrollment_id,
                "contact_id": result.contact_id,
                "sequence": prepared.sequence_key,
                "version": result.version,
                "phone": prepared.phone,
                "timezone": prepared.timezone,
                "anchor": prepared.anchor_text(),
                "external_id": prepared.external_id or None,
                "messages": rows,
                "missed": list(prepared.missed),
                "caught_up": list(prepared.caught_up),
            }
        )
        return
    out.print(
        f"enrolled [bold]{prepared.phone}[/] in {prepared.sequence_key} @ {result.version} "
        f"(enrollment {result.enrollment_id}, {prepared.timezone})"
    )
    table = Table(show_edge=False)
    for column in ("step", "state", "local time", "UTC"):
        table.add_column(column, no_wrap=True)
    for m in prepared.messages:
        table.add_row(
            m.step_id,
            m.state.value,
            _local(m.due_at, prepared.timezone),
            format_utc(m.due_at) if m.due_at else "—",
        )
    out.print(table)
    _missed_note(prepared.missed, prepared.caught_up)


def _missed_note(missed: Sequence[str], caught_up: Sequence[str]) -> None:
    if caught_up:
        out.print(f"[yellow]caught up[/]: {', '.join(caught_up)} (sent now instead of missed)")
    if missed:
        out.print(
            f"[yellow]missed[/]: {', '.join(missed)} (already past their latest send time; "
            "they will not be sent)"
        )


def _iso_local(instant: Any, zone: str) -> str | None:
    from zoneinfo import ZoneInfo

    return None if instant is None else str(instant.astimezone(ZoneInfo(zone)).isoformat())


@contextmanager
def progress(*, enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar on stderr, only on a terminal; yields ``advance(phase, done,
    total)`` (phase ``read`` in bytes, then ``enroll`` in rows)."""
    if not enabled or not err.is_terminal:
        yield lambda *_: None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
        TimeElapsedColumn(), console=err, transient=True,
    ) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}
        names = {"read": "checking the file", "enroll": "enrolling"}

        def advance(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(names.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield advance


def imported(report: Any, *, as_json: bool) -> None:
    """The import's report: every refused row with its line and reason, then the counts."""
    if as_json:
        print_json(report.as_json())
        return
    for line, field, reason in report.refused:
        out.print(f"line {line}: {field}: {reason}", markup=False)
    for line, reason in report.duplicates:
        out.print(f"line {line}: skipped: {reason}", markup=False)
    for line, steps in report.missed:
        out.print(f"line {line}: missed: {', '.join(steps)}", markup=False)
    for line, steps in report.caught_up:
        out.print(f"line {line}: caught up: {', '.join(steps)} (sent now)", markup=False)
    style = "red" if report.refused else "green"
    parts = [
        f"[{style}]{report.enrolled} enrolled[/]",
        f"{len(report.refused)} refused",
        f"{len(report.duplicates)} already enrolled",
        f"{report.blank} blank",
    ]
    err.print(f"{', '.join(parts)} of {report.rows} rows")
    if report.missed:
        err.print(
            f"[yellow]{report.missed_total} message(s) missed[/] (already past their latest "
            f"send time) in {len(report.missed)} enrollment(s)"
        )
    if not report.written:
        err.print(
            f"[red]nothing written[/] (--all-or-nothing): {report.valid} valid row(s) "
            "were not enrolled"
        )


def unenrolled(ids: Sequence[int], *, as_json: bool) -> None:
    """The enrollments ended."""
    if as_json:
        print_json({"unenrolled": list(ids)})
        return
    for enrollment_id in ids:
        out.print(f"unenrolled enrollment {enrollment_id}")
    err.print("scheduled messages are canceled at Twilio by the next tick")


def tick_report(report: Any, *, as_json: bool) -> None:
    """What a dispatcher pass did."""
    counts = report.as_json()
    if as_json:
        print_json(counts)
        return
    done = {name: n for name, n in counts.items() if n}
    out.print(
        ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in done.items()) or "nothing due"
    )


def timeline(phone: str, rows: Sequence[Any], *, as_json: bool) -> None:
    """Every message of one contact."""
    if as_json:
        print_json(
            [
                {
                    "enrollment_id": r.enrollment_id,
                    "sequence": r.sequence,
                    "enrollment_state": r.enrollment_state,
                    "step": r.step,
                    "state": r.state,
                    "due_utc": format_utc(r.due_at) if r.due_at else None,
                    "due_local": _iso_local(r.due_at, r.timezone),
                    "sid": r.sid,
                    "error_code": r.error_code,
                    "error_message": r.error_message,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        err.print(f"no messages for {phone}")
        return
    table = _folded_table(
        ("enrollment", "step", "state", "local time", "UTC", "SID", "error"),
        title=f"timeline of {phone}",
        title_justify="left",
    )
    for r in rows:
        error = f"{r.error_code or ''} {r.error_message or ''}".strip()
        table.add_row(
            f"{r.enrollment_id} {r.sequence} ({r.enrollment_state})", r.step, r.state,
            _local(r.due_at, r.timezone), format_utc(r.due_at) if r.due_at else "—",
            r.sid or "", _escape(error),
        )  # fmt: skip
    out.print(table)


def stats(rows: Sequence[tuple[str, str, str, int]], *, as_json: bool) -> None:
    """Counts per sequence, step and state."""
    if as_json:
        print_json([{"sequence": q, "step": s, "state": st, "count": n} for q, s, st, n in rows])
        return
    table = Table(show_edge=False)
    for column in ("sequence", "step", "state", "messages"):
        table.add_column(column, justify="right" if column == "messages" else "left")
    for sequence, step, state, count in rows:
        table.add_row(sequence, step, state, str(count))
    out.print(table)
    expired, missed = (
        sum(n for _, _, st, n in rows if st == state)
        for state in (MessageState.EXPIRED, MessageState.MISSED)
    )
    out.print(f"never sent: {expired} expired, {missed} missed at enrollment")


def starting(what: str, runtime: Any) -> None:
    """The banner of a long-running command: where it sends, and whether webhooks are checked."""
    target = (
        f"the sandbox at {runtime.sandbox_url} (no Twilio credentials)"
        if runtime.settings.uses_sandbox
        else f"Twilio at {runtime.settings.twilio_api_base}"
    )
    err.print(f"dripsms {what}: talking to {target}; Ctrl-C stops", markup=False)
    skipped(runtime.library.load_problems)
    if what == "worker":
        return  # serves no webhooks
    problem = runtime.webhook_problem
    if problem is None:
        err.print("webhooks: X-Twilio-Signature checked", markup=False)
    else:
        err.print(f"[bold red]webhooks refused (503):[/] {_escape(problem)}")


def checks(found: Sequence[Any], *, as_json: bool) -> None:
    """What ``doctor`` found, one line per check."""
    ok = all(check.ok for check in found)
    if as_json:
        print_json({"ok": ok, "checks": [check.as_json() for check in found]})
        return
    for check in found:
        mark = "[red]✗[/]" if not check.ok else "[yellow]![/]" if check.warning else "[green]✓[/]"
        out.print(f"{mark} [bold]{_escape(check.name)}[/]: {_escape(check.detail)}")
    out.print("all good" if ok else "[red]something is wrong: see ✗ above[/]")


def skipped(load_problems: Sequence[Any]) -> None:
    """Sequence files that failed to load: named in the banner, the others keep running."""
    for broken in load_problems:
        why = f"{broken.file}: {len(broken.problems)} problem(s), first: {broken.problems[0]}"
        err.print(f"[yellow]skipped[/] {_escape(why)}; see `dripsms validate`", highlight=False)


def listening(host: str, port: int) -> None:
    """Where the server answers (the socket is bound before this is said)."""
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    err.print(
        f"listening on {url}: open {url}/ in a browser; API {url}/v1, docs {url}/docs, "
        f"health {url}/healthz",
        markup=False,
        highlight=False,
    )


def stopping(signal_name: str) -> None:
    """A stop was asked for."""
    err.print(f"{signal_name}: finishing calls in flight, then stopping")


def sandbox_ready(url: str, fresh_token: str | None = None) -> None:
    """The sandbox listens (with ``fresh_token``: what to set to use it with webhooks)."""
    err.print(f"dripsms sandbox listening at {url}")
    if fresh_token is None:
        err.print(f"point dripsms at it with DRIPSMS_TWILIO_API_BASE={url}; Ctrl-C stops")
        return
    from dripsms.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_MESSAGING_SERVICE_SID

    err.print("its account has a fresh auth token; point dripsms at it with:", markup=False)
    for line in (
        f"TWILIO_ACCOUNT_SID={SANDBOX_ACCOUNT_SID}",
        f"TWILIO_AUTH_TOKEN={fresh_token}",
        f"DRIPSMS_TWILIO_API_BASE={url}",
        f"DRIPSMS_MESSAGING_SERVICE_SID={SANDBOX_MESSAGING_SERVICE_SID}",
    ):
        err.print(f"  export {line}", markup=False)
    err.print("Ctrl-C stops", markup=False)


def migration(key: str, report: Any, *, as_json: bool) -> None:
    """What ``sequences migrate`` did."""
    if as_json:
        print_json(report.as_json())
        return
    out.print(
        f"{key} @ {report.version}: {report.enrollments} enrollment(s) migrated; "
        f"{report.replanned} message(s) re-planned, {report.added} added, "
        f"{report.removed} canceled (their step left the sequence)"
    )
    for enrollment_id, reason in report.refused:
        out.print(f"enrollment {enrollment_id} kept its version: {reason}", markup=False)


def sequence_list(current: dict[str, Any], in_use: Sequence[Any], *, as_json: bool) -> None:
    """Sequences, their current version, and the versions running."""
    if as_json:
        print_json(
            {
                "sequences": [
                    {"key": k, "name": v.sequence.name, "version": v.version, "file": v.file}
                    for k, v in current.items()
                ],
                "in_use": [
                    {"key": k, "version": d[:12], "active_enrollments": n} for k, d, n in in_use
                ],
            }
        )
        return
    table = Table(show_edge=False)
    for column in ("sequence", "name", "current", "running versions (active enrollments)"):
        table.add_column(column)
    for key, loaded in current.items():
        running = ", ".join(
            f"{d[:12]}{' (current)' if d == loaded.digest else ''}: {n}"
            for k, d, n in in_use
            if k == key
        )
        table.add_row(key, loaded.sequence.name, loaded.version, running or "—")
    out.print(table)


# -- sandbox mode: the virtual clock, its controls, the demo ------------------------------


def _instant(value: Any) -> str:
    """An instant as ``2026-03-08 14:00 UTC`` (text from JSON is shown as given)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def virtual_clock(start: Any, *, resumed: bool, run_file: str) -> None:
    """The banner's virtual-clock lines (``run`` in sandbox mode)."""
    how = (
        "resumed where the previous run on this database stopped (it never goes back)"
        if resumed
        else "set DRIPSMS_NOW to start elsewhere"
    )
    err.print(f"virtual clock: {_instant(start)}, following real time; {how}", markup=False)
    err.print(
        "move it with `dripsms clock advance 1d` or `dripsms clock next`; a phone texts with "
        f"`dripsms sandbox reply PHONE TEXT` (they find this server through {run_file})",
        markup=False,
    )


def run_overview(runtime: Any, host: str, port: int, first: Any) -> None:
    """The banner's summary for a person: the console and who signs in to it (``first``,
    from :func:`dripsms.engine.users.first_run`), the provider, the database, and how to
    switch to real Twilio."""
    from sqlalchemy.engine import make_url

    try:
        database = make_url(runtime.settings.database_url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL was refused earlier; never print it raw
        database = "(unreadable URL)"
    provider = (
        "the built-in sandbox (no Twilio credentials; nothing reaches a real phone)"
        if runtime.settings.uses_sandbox
        else "Twilio"
    )
    operators_banner(first, host=host, port=port)
    err.print(f"provider: {provider}", markup=False)
    err.print(f"database: {database}", markup=False)
    if runtime.settings.uses_sandbox:
        err.print(
            "to use real Twilio: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
            "DRIPSMS_MESSAGING_SERVICE_SID (see docs/settings.md), then restart",
            markup=False,
        )


def clock_status(status: dict[str, Any], *, as_json: bool) -> None:
    """``dripsms clock show``."""
    if as_json:
        print_json(status)
        return
    out.print(f"now: {_instant(status.get('now'))}", markup=False)
    out.print(f"next due message: {_instant(status.get('next_due'))}", markup=False)


def clock_moved(move: dict[str, Any], *, as_json: bool) -> None:
    """``dripsms clock advance`` / ``next``."""
    if as_json:
        print_json(move)
        return
    out.print(
        f"virtual clock moved from {_instant(move.get('previous'))} to {_instant(move.get('now'))}",
        markup=False,
    )
    out.print(f"next due message: {_instant(move.get('next_due'))}", markup=False)


def phone_replied(result: dict[str, Any], *, as_json: bool) -> None:
    """``dripsms sandbox reply``."""
    if as_json:
        print_json(result)
        return
    status = result.get("webhook_status")
    if status is not None and 200 <= status < 300:
        out.print(f"delivered to dripsms (webhook answered {status})", markup=False)
    else:
        code = result.get("error_code")
        out.print(
            f"[red]the webhook failed[/] (status {status}, Twilio error {code})",
            highlight=False,
        )
    for answer in result.get("answers") or []:
        out.print(f"answer: {answer}", markup=False)


def demo(result: Any, database_url: str, *, as_json: bool) -> None:
    """What ``dripsms demo`` did: each patient's timeline, in New York time."""
    from zoneinfo import ZoneInfo

    from sqlalchemy.engine import make_url

    if as_json:
        print_json(result.as_json())
        return
    zone = ZoneInfo("America/New_York")
    out.print(
        f"dripsms demo: the post-op example from {result.start:%Y-%m-%d %H:%M} UTC to "
        f"{result.end:%Y-%m-%d %H:%M} UTC (virtual clock), times in America/New_York",
        markup=False,
    )
    for patient in result.patients:
        mark = "[green]✓[/]" if patient["outcome_reached"] else "[red]✗[/]"
        out.print(
            f"\n{mark} [bold]{_escape(patient['name'])}[/] {patient['phone']}: "
            f"{_escape(patient['story'])} → {patient['outcome']}"
        )
        for event in patient["timeline"]:
            when = f"{event['at'].astimezone(zone):%a %m-%d %H:%M %Z}" if event["at"] else "—"
            if event["what"] == "reply":
                step = f", step {event['step']}" if event["step"] else ""
                line = f"  {when}  ← {event['body']!r} ({event['kind']}{step})"
            elif event["what"] == "alert":
                line = f"  {when}  ! alert: a text to the care team's phone, {event['state']}"
            else:
                line = f"  {when}  → {event['step']} ({event['kind']}): {event['state']}"
            out.print(line, markup=False)
        extra = []
        if patient["alerts"]:
            extra.append(f"{patient['alerts']} alert(s) to the care team")
        if patient["opted_out"]:
            extra.append(f"opted out; {patient['canceled_at_sandbox']} canceled at the sandbox")
        if extra:
            out.print("  " + "; ".join(extra), markup=False)
    database = make_url(database_url).render_as_string(hide_password=True)
    out.print(
        f"\nthe database ({database}) is left for the console: `dripsms run`, then open "
        "/console/ (the virtual clock resumes where the demo stopped)",
        markup=False,
    )


# -- operators and the audit log (dripsms users, dripsms audit, the run banner) -------------


def operators_banner(first: Any, *, host: str, port: int) -> None:
    """The banner's one ``console:`` line: its URL and who signs in, the admin just created
    (its password, this once) or how to manage operators. Printed to the terminal only,
    never logged."""
    shown = f"[{host}]" if ":" in host else host
    console_url = f"http://{shown}:{port}/console/"
    if first.created is not None:
        err.print(
            f"console: sign in at {console_url} as {first.created.email} with password "
            f"{first.password} (shown this once: note it, or add your own operator with "
            "`dripsms users add EMAIL --role admin`)",
            markup=False,
            highlight=False,
        )
    elif first.existing:
        err.print(
            f"console: {console_url}; operators exist: dripsms users add/list",
            markup=False,
            highlight=False,
        )
    else:
        err.print(
            f"console: {console_url}; no operator yet: "
            "run `dripsms users add EMAIL --role admin` to create one",
            markup=False,
            highlight=False,
        )


def _utc_or_none(value: Any) -> str | None:
    return format_utc(value) if value is not None else None


def _instant_in(value: Any, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return str(value.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds"))


def operator_added(operator: Any) -> None:
    """``users add`` succeeded."""
    out.print(f"added {operator.role.value} {operator.email}", markup=False)


def operator_disabled(row: Any) -> None:
    """``users disable`` succeeded."""
    out.print(f"disabled {row.email}; their sessions have ended", markup=False)


def operators(rows: Sequence[Any], *, as_json: bool) -> None:
    """``users list``."""
    if as_json:
        print_json(
            [
                {"email": r.email, "role": r.role, "created": _utc_or_none(r.created_at),
                 "disabled": _utc_or_none(r.disabled_at)}
                for r in rows
            ]
        )  # fmt: skip
        return
    if not rows:
        err.print("no operators yet: dripsms users add EMAIL --role admin")
        return
    table = _folded_table(("email", "role", "created (UTC)", "disabled (UTC)"), show_edge=False)
    for r in rows:
        table.add_row(
            _escape(r.email), r.role, format_utc(r.created_at),
            format_utc(r.disabled_at) if r.disabled_at else "—",
        )  # fmt: skip
    out.print(table)


def audit_events(events: Sequence[Any], zone: str, *, as_json: bool) -> None:
    """``audit``: newest first, times in the clinic's zone (and UTC in JSON)."""
    if as_json:
        print_json(
            [
                {"id": e.id, "at": _utc_or_none(e.at), "at_local": _instant_in(e.at, zone),
                 "operator": e.operator_email, "action": e.action, "subject": e.subject,
                 "detail": e.detail}
                for e in events
            ]
        )  # fmt: skip
        return
    if not events:
        err.print("no audit rows in this period")
        return
    table = _folded_table(("time", "operator", "action", "subject"), show_edge=False)
    for e in events:
        table.add_row(_local(e.at, zone), _escape(e.operator_email), e.action, _escape(e.subject))
    out.print(table)
