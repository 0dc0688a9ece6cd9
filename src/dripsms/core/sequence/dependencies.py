"""Which replies a step's condition waits for.

A ``when`` that reads ``steps.X.reply`` waits for step X's reply. So does a ``when`` that
reads an attribute which X's reply rules ``set`` (``when: not escalated``, where day 1's
rule sets ``escalated``): the message cannot be decided until X is answered or its
reply window closes. Such messages are planned *blocked* and released by the dispatcher.
"""

from __future__ import annotations

from dripsms.core.sequence.model import Sequence, Step
from dripsms.core.templates import SyntaxProblem, parse_expression, references


def _setters(sequence: Sequence) -> dict[str, set[str]]:
    """attribute → the steps whose reply rules may set it."""
    found: dict[str, set[str]] = {}
    for step in sequence.steps:
        actions = [a for rule in step.on_reply for a in rule.then] + list(step.on_no_reply)
        for action in actions:
            for name in action.set_ or {}:
                found.setdefault(name, set()).add(step.id)
    return found


_CACHE: dict[int, tuple[Sequence, dict[str, frozenset[str]]]] = {}


def waits_for(sequence: Sequence, step: Step) -> frozenset[str]:
    """The steps whose reply (or its absence) must be known before ``step`` is decided.

    Computed once per sequence (parsing conditions is the costly part of planning an
    import); the sequence is kept alive beside its result so the id cannot be reused.
    """
    cached = _CACHE.get(id(sequence))
    if cached is None or cached[0] is not sequence:
        if len(_CACHE) > 256:
            _CACHE.clear()
        cached = (sequence, {s.id: _waits_for(sequence, s) for s in sequence.steps})
        _CACHE[id(sequence)] = cached
    return cached[1].get(step.id, frozenset())


def _waits_for(sequence: Sequence, step: Step) -> frozenset[str]:
    if step.when is None:
        return frozenset()
    tree = parse_expression(step.when)
    if isinstance(tree, SyntaxProblem):
        return frozenset()
    setters = _setters(sequence)
    needed: set[str] = set()
    for ref in references(tree):
        if ref[0] == "steps" and len(ref) > 1:
            needed.add(ref[1])
        else:
            needed |= setters.get(ref[0], set())
    needed.discard(step.id)
    return frozenset(needed)


def dependencies(sequence: Sequence) -> dict[str, frozenset[str]]:
    """:func:`waits_for` of every step that waits for something."""
    found = {step.id: waits_for(sequence, step) for step in sequence.steps}
    return {step_id: needed for step_id, needed in found.items() if needed}
