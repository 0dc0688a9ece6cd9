"""The checks of a sequence's templates and conditions: the names each may read (a reply
only once it is settled), syntax and filters, and a trial run with sample values
(limits, the sandbox, bodies that render empty or run long)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError

from dripsms.core.context import sample_attributes, sample_replies, template_context
from dripsms.core.segments import count_segments, non_gsm_characters
from dripsms.core.sequence.model import Sequence, Step
from dripsms.core.sequence.names import Scope
from dripsms.core.templates import (
    DEFAULT_LIMITS,
    SyntaxProblem,
    TemplateLimit,
    evaluate,
    parse_expression,
    parse_template,
    references,
    render,
    unknown_filters,
)
from dripsms.errors import TemplateError

Path = tuple[str | int, ...]
Finding = tuple[Path, str]
MAX_SOURCE = 2 * DEFAULT_LIMITS.max_output
"""The longest template source: twice the longest text a template may render."""


def _own_position(step: Step, base: float | None) -> float | None:
    """A step's nominal minute from the anchor, given the one of the step it comes after."""
    if step.at is not None:
        clock = step.at.time if step.at.time is not None else step.at.hours * 60
        return step.at.days * 1440 + clock + step.at.minutes
    if step.after is None or base is None:
        return None
    gap = step.after.days * 1440 + step.after.hours * 60 + step.after.minutes
    return base + gap + (0.5 if step.after.from_ == "reply" else 0.0)


def _positions(seq: Sequence) -> dict[str, float | None]:
    """A nominal time of each step in minutes from the anchor, for "which comes first"."""
    by_id = {s.id: s for s in seq.steps}
    positions: dict[str, float | None] = {}
    for step in seq.steps:
        chain: list[Step] = []  # the step, the step it comes after, and so on
        on_chain: set[str] = set()
        current: Step | None = step
        while current is not None and current.id not in positions:
            if current.id in on_chain:
                current = None  # a cycle: reported elsewhere, no position
                break
            chain.append(current)
            on_chain.add(current.id)
            after = current.after if current.at is None else None
            current = by_id.get(after.step) if after is not None else None
        base = positions[current.id] if current is not None else None
        for item in reversed(chain):
            base = _own_position(item, base)
            positions[item.id] = base
    return positions


def _ancestors(seq: Sequence, step: Step) -> set[str]:
    by_id = {s.id: s for s in seq.steps}
    found: set[str] = set()
    current = step
    while current.after is not None and current.after.step in by_id:
        if current.after.step in found:
            break
        found.add(current.after.step)
        current = by_id[current.after.step]
    return found


def _scope(seq: Sequence, step: Step, positions: dict[str, float | None]) -> Scope:
    replying = frozenset(s.id for s in seq.steps if s.expect_reply is not None)
    mine = positions.get(step.id)
    ancestors = _ancestors(seq, step)
    earlier = set()
    for other in replying:
        theirs = positions.get(other)
        if other == step.id:
            continue
        if mine is None or other in ancestors or (theirs is not None and theirs < mine):
            earlier.add(other)
    return Scope(
        attributes=frozenset(seq.attributes),
        earlier_replies=frozenset(earlier),
        all_steps=frozenset(s.id for s in seq.steps),
        replying_steps=replying,
    )


def _parsed(
    source: str, path: Path, *, expression: bool
) -> tuple[nodes.Template | None, list[Finding]]:
    """The tree of a template or condition, and its syntax and unknown-filter problems."""
    what = "condition" if expression else "template"
    if len(source) > MAX_SOURCE:
        return None, [(path, f"the {what} is {len(source):,} characters; at most {MAX_SOURCE:,}")]
    tree = parse_expression(source) if expression else parse_template(source)
    if isinstance(tree, SyntaxProblem):
        line = f" (line {tree.line} of the {what})" if tree.line > 1 and not expression else ""
        return None, [(path, f"{what} syntax error: {tree.message}{line}")]
    return tree, [(path, problem) for problem in unknown_filters(tree)]


def _check_source(
    source: str, path: Path, scope: Scope, step_id: str, *, expression: bool
) -> Iterator[Finding]:
    tree, problems = _parsed(source, path, expression=expression)
    if tree is None:
        yield from problems
        return
    for ref in references(tree):
        problem = scope.problem(ref, own_step=step_id)
        if problem:
            yield path, problem
    yield from problems


def _raw_sources(data: Any) -> Iterator[tuple[Path, str, bool]]:
    """(path, source, is_expression) of every template in parsed YAML the model refused."""
    steps = data.get("steps") if isinstance(data, dict) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        yield from _raw(step, ("steps", i), "body", expression=False)
        yield from _raw(step, ("steps", i), "when", expression=True)
        expect = step.get("expect_reply")
        if isinstance(expect, dict):
            yield from _raw(expect, ("steps", i, "expect_reply"), "reprompt", expression=False)
        for field in ("on_reply", "on_no_reply"):
            items = step.get(field)
            for r, item in enumerate(items if isinstance(items, list) else []):
                if not isinstance(item, dict):
                    continue
                where: Path = ("steps", i, field, r)
                if field == "on_no_reply":
                    yield from _raw(item, where, "send", expression=False)
                    continue
                yield from _raw(item, where, "if", expression=True)
                actions = item.get("then")
                for a, action in enumerate(actions if isinstance(actions, list) else []):
                    if isinstance(action, dict):
                        yield from _raw(action, (*where, "then", a), "send", expression=False)


def _raw(
    mapping: dict[str, Any], where: Path, field: str, *, expression: bool
) -> Iterator[tuple[Path, str, bool]]:
    value = mapping.get(field)
    if isinstance(value, str) and value:
        yield (*where, field), value, expression


def check_raw_templates(data: Any) -> list[Finding]:
    """Template problems found without a valid model, so one pass reports them too.

    Used when the file has field errors: syntax, unknown filters, and templates that read
    no value and still fail or go over a limit. Names are checked once the fields are valid.
    """
    findings: list[Finding] = []
    for path, source, expression in _raw_sources(data):
        tree, problems = _parsed(source, path, expression=expression)
        findings.extend(problems)
        if tree is None or problems or references(tree):
            continue
        try:
            evaluate(source, {}) if expression else render(source, {})
        except TemplateError as exc:
            findings.append((path, str(exc)))
    return findings


def _alert_sources(step: Step, i: int) -> Iterator[tuple[Path, str, bool]]:
    """(path, source, sees_own_reply) for every notify ``message`` of a step."""
    for r, rule in enumerate(step.on_reply):
        for a, action in enumerate(rule.then):
            if action.message is not None:
                yield ("steps", i, "on_reply", r, "then", a, "message"), action.message, True
    for a, action in enumerate(step.on_no_reply):
        if action.message is not None:
            yield ("steps", i, "on_no_reply", a, "message"), action.message, False


def _template_sources(step: Step, i: int) -> Iterator[tuple[Path, str, bool, bool]]:
    """(path, source, is_expression, sees_own_reply) for every template of a step."""
    yield ("steps", i, "body"), step.body, False, False
    if step.when is not None:
        yield ("steps", i, "when"), step.when, True, False
    if step.expect_reply is not None and step.expect_reply.reprompt is not None:
        yield ("steps", i, "expect_reply", "reprompt"), step.expect_reply.reprompt, False, False
    for r, rule in enumerate(step.on_reply):
        if rule.if_ is not None:
            yield ("steps", i, "on_reply", r, "if"), rule.if_, True, True
        for a, action in enumerate(rule.then):
            if action.send is not None:
                yield ("steps", i, "on_reply", r, "then", a, "send"), action.send, False, True
    for a, action in enumerate(step.on_no_reply):
        if action.send is not None:
            yield ("steps", i, "on_no_reply", a, "send"), action.send, False, False


def check_templates(seq: Sequence) -> Iterator[Finding]:
    positions = _positions(seq)
    for i, step in enumerate(seq.steps):
        base = _scope(seq, step, positions)
        for path, source, expression, own in _template_sources(step, i):
            scope = replace(base, own_reply=own)
            yield from _check_source(source, path, scope, step.id, expression=expression)
        for path, source, own in _alert_sources(step, i):
            scope = replace(base, own_reply=own, alert=True)
            yield from _check_source(source, path, scope, step.id, expression=False)


def _sample_context(seq: Sequence, step: Step, *, high: bool, own_reply: bool) -> dict[str, Any]:
    replies = sample_replies(seq, high=high)
    extra = {"reply": replies.get(step.id)} if own_reply else {}
    return template_context(
        seq,
        step_id=step.id,
        attributes=sample_attributes(seq, high=high),
        phone="+15555550100",
        replies=replies,
        external_id="sample",
        **extra,
    )


def _trial(
    seq: Sequence, step: Step, source: str, *, expression: bool, own_reply: bool, high: bool
) -> str | TemplateError:
    """A template rendered (a condition evaluated) with sample values, or why it failed."""
    context = _sample_context(seq, step, high=high, own_reply=own_reply)
    try:
        if expression:
            return str(evaluate(source, {**context, "step": {"id": step.id}}))
        return render(source, context)
    except TemplateError as exc:
        return exc


def _always_fails(source: str, expression: bool, error: TemplateError) -> bool:
    """Whether a failure is the template's own, not the sample values': it fails with any data.

    A limit or the sandbox refusing is the template's doing; so is any failure of a
    template that reads no value at all (``{{ 1/0 }}``).
    """
    if isinstance(error, TemplateLimit) or isinstance(error.__cause__, SecurityError):
        return True
    tree = parse_expression(source) if expression else parse_template(source)
    return not isinstance(tree, SyntaxProblem) and not references(tree)


def check_rendering(
    seq: Sequence, max_segments: int, skip: set[Path]
) -> Iterator[tuple[bool, Finding]]:
    """(is_error, finding) for every template run with sample values, bounded.

    A template that goes over a limit, is refused by the sandbox or always fails is an
    error; one that fails only with the sample values is a warning. Bodies that render
    empty are errors; long ones are warnings. Templates in ``skip`` (already reported)
    are not run.
    """
    for i, step in enumerate(seq.steps):
        for path, source, expression, own in _template_sources(step, i):
            if path in skip:
                continue
            results: list[str | TemplateError] = []
            for high in (False, True):
                result = _trial(seq, step, source, expression=expression, own_reply=own, high=high)
                results.append(result)
                if isinstance(result, TemplateError) and _always_fails(source, expression, result):
                    break
            failed = next((r for r in results if isinstance(r, TemplateError)), None)
            if failed is not None:
                if _always_fails(source, expression, failed):
                    yield True, (path, str(failed))
                    continue
                yield False, (path, f"with sample values: {failed}")
            if path == ("steps", i, "body"):
                texts = [r for r in results if isinstance(r, str)]
                yield from _check_body(seq, step, i, texts, max_segments)


def _check_body(
    seq: Sequence, step: Step, index: int, texts: list[str], max_segments: int
) -> Iterator[tuple[bool, Finding]]:
    """(is_error, finding) for a body that renders empty or runs long."""
    if not texts:
        return
    if not any(text.strip() for text in texts):
        yield True, (("steps", index, "body"), "the body renders empty")
        return
    limit = step.max_segments or seq.max_segments or max_segments
    longest = max(texts, key=lambda text: count_segments(text).segments)
    counted = count_segments(longest)
    if counted.segments > limit:
        hint = ""
        forcing = non_gsm_characters(longest)
        if forcing:
            shown = " ".join(repr(c) for c in forcing[:5])
            hint = f"; {shown} force UCS-2 (70 characters a segment)"
        yield (
            False,
            (
                ("steps", index, "body"),
                f"the body is {counted.segments} segments ({counted.encoding}), over the "
                f"limit of {limit}{hint}",
            ),
        )
