"""Checks that look across a whole sequence: references, cycles, templates, reachability.

The checks of templates and conditions are :mod:`dripsms.core.sequence.template_checks`.

Each check yields ``(path, message)`` findings; the loader turns paths into
``file:line:column``. Errors make a sequence unusable; warnings do not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dripsms.core.attributes import AttributeType, coerce
from dripsms.core.sequence.model import Action, Sequence, Step
from dripsms.core.sequence.template_checks import (
    Finding,
    Path,
    check_rendering,
    check_templates,
)
from dripsms.core.templates import (
    SyntaxProblem,
    evaluate,
    parse_expression,
    references,
)
from dripsms.errors import TemplateError

KEY = "[key]"
"""A finding's path ending in KEY points at the mapping key, not at its value."""


@dataclass(frozen=True, slots=True)
class Findings:
    """What the cross-checks found."""

    errors: list[Finding]
    warnings: list[Finding]


def _actions(step: Step, index: int) -> Iterator[tuple[Path, Action]]:
    for r, rule in enumerate(step.on_reply):
        for a, action in enumerate(rule.then):
            yield ("steps", index, "on_reply", r, "then", a), action
    for a, action in enumerate(step.on_no_reply):
        yield ("steps", index, "on_no_reply", a), action


def _check_anchor(seq: Sequence) -> Iterator[Finding]:
    if seq.anchor == "enrolled_at":
        return
    declared = seq.attributes.get(seq.anchor)
    if declared is None:
        yield (
            ("anchor",),
            (
                f"anchor {seq.anchor!r} is not a declared attribute (declare it with type date "
                "or datetime, or use enrolled_at)"
            ),
        )
    elif declared.type not in (AttributeType.DATE, AttributeType.DATETIME):
        yield (
            ("anchor",),
            f"anchor {seq.anchor!r} is of type {declared.type.value}; it must be date or datetime",
        )


def _check_ids(seq: Sequence) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for i, step in enumerate(seq.steps):
        if step.id in first:
            yield (
                ("steps", i, "id"),
                f"duplicate step id {step.id!r} (also steps[{first[step.id]}])",
            )
        else:
            first[step.id] = i


def _check_references(seq: Sequence) -> Iterator[Finding]:
    ids = {s.id: s for s in seq.steps}
    for i, step in enumerate(seq.steps):
        if step.after is not None:
            target = ids.get(step.after.step)
            where: Path = ("steps", i, "after", "step")
            if target is None:
                yield where, f"unknown step {step.after.step!r}"
            elif target.id == step.id:
                yield where, "a step cannot come after itself"
            elif step.after.from_ == "reply" and target.expect_reply is None:
                yield (
                    ("steps", i, "after", "from"),
                    (f"step {target.id!r} expects no reply, so there is no reply to count from"),
                )
        if step.expect_reply is None:
            if step.on_reply:
                yield ("steps", i, "on_reply"), "on_reply needs the step to have expect_reply"
            if step.on_no_reply:
                yield ("steps", i, "on_no_reply"), "on_no_reply needs the step to have expect_reply"
        for path, action in _actions(step, i):
            yield from _check_action(seq, ids, path, action)


def _check_action(
    seq: Sequence, ids: dict[str, Step], path: Path, action: Action
) -> Iterator[Finding]:
    if action.goto is not None and action.goto not in ids:
        yield (*path, "goto"), f"unknown step {action.goto!r}"
    if action.notify is not None and action.notify not in seq.notify:
        known = ", ".join(sorted(seq.notify)) or "none are declared under 'notify'"
        yield (*path, "notify"), f"unknown notify target {action.notify!r} ({known})"
    for name, value in (action.set_ or {}).items():
        declared = seq.attributes.get(name)
        if declared is None:
            yield (
                (*path, "set", name, KEY),
                f"{name!r} is not a declared attribute; declare it under 'attributes' to set it",
            )
            continue
        if value is None:
            yield (
                (*path, "set", name),
                f"{name!r} cannot be set to nothing; give a {declared.type.value} value",
            )
            continue
        try:
            coerce(declared.type, value, declared.values)
        except ValueError as exc:
            yield (*path, "set", name), f"{name!r} is a {declared.type.value} attribute: {exc}"


def _edges(seq: Sequence) -> dict[str, list[tuple[str, Path]]]:
    ids = {s.id for s in seq.steps}
    edges: dict[str, list[tuple[str, Path]]] = {s.id: [] for s in seq.steps}
    for i, step in enumerate(seq.steps):
        if step.after is not None and step.after.step in ids and step.after.step != step.id:
            edges[step.after.step].append((step.id, ("steps", i, "after", "step")))
        for path, action in _actions(step, i):
            if action.goto is not None and action.goto in ids:
                edges[step.id].append((action.goto, (*path, "goto")))
    return edges


def _check_cycles(seq: Sequence) -> Iterator[Finding]:
    edges = _edges(seq)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    reported: set[frozenset[str]] = set()
    for step in seq.steps:
        if step.id not in state:
            yield from _cycles_from(step.id, edges, state, reported)


def _cycles_from(
    root: str,
    edges: dict[str, list[tuple[str, Path]]],
    state: dict[str, int],
    reported: set[frozenset[str]],
) -> Iterator[Finding]:
    """Depth first from ``root``, without recursion: a long chain of steps is no problem."""
    trail = [root]
    pending = [iter(edges[root])]
    state[root] = 1
    while pending:
        edge = next(pending[-1], None)
        if edge is None:
            state[trail.pop()] = 2
            pending.pop()
            continue
        target, path = edge
        if state.get(target) == 1:
            loop = [*trail[trail.index(target) :], target]
            if frozenset(loop) not in reported:
                reported.add(frozenset(loop))
                yield path, "steps form a cycle: " + " -> ".join(loop)
        elif state.get(target) is None:
            state[target] = 1
            trail.append(target)
            pending.append(iter(edges[target]))


def _constant_false(condition: str | None) -> bool:
    if condition is None:
        return False
    tree = parse_expression(condition)
    if isinstance(tree, SyntaxProblem) or references(tree):
        return False
    try:
        return not evaluate(condition, {})
    except TemplateError:
        return False


def _check_reachable(seq: Sequence) -> Iterator[Finding]:
    by_id = {s.id: s for s in seq.steps}
    reached: set[str] = set()
    frontier = [s.id for s in seq.steps if s.at is not None and not _constant_false(s.when)]
    edges = _edges(seq)
    while frontier:
        current = frontier.pop()
        if current in reached:
            continue
        reached.add(current)
        for target, _ in edges[current]:
            if not _constant_false(by_id[target].when):
                frontier.append(target)
    for i, step in enumerate(seq.steps):
        if step.id not in reached:
            yield _unreachable(step, i)


def _unreachable(step: Step, index: int) -> Finding:
    """Why a step is never sent, at the place that makes it so."""
    if _constant_false(step.when):
        path: Path = ("steps", index, "when")
        why = "its 'when' is always false"
    elif step.after is not None:
        path = ("steps", index, "after", "step")
        why = f"it comes after step {step.after.step!r}, which is never sent"
    else:
        path = ("steps", index, "id")
        why = "it has no 'at' or 'after', and no goto from a step that is sent leads to it"
    return path, f"step {step.id!r} can never be sent: {why}"


def check_sequence(seq: Sequence, *, max_segments: int = 3) -> Findings:
    """Run every cross-check; ``max_segments`` is the default long-body warning limit."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    for check in (_check_anchor, _check_ids, _check_references, _check_cycles):
        errors.extend(check(seq))
    if not errors:  # reachability means little while steps point nowhere or in a loop
        errors.extend(_check_reachable(seq))
    static = list(check_templates(seq))
    errors.extend(static)
    for is_error, finding in check_rendering(seq, max_segments, {p for p, _ in static}):
        (errors if is_error else warnings).append(finding)
    return Findings(errors, warnings)
