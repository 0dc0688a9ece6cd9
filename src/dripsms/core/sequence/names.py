"""Which names a template or condition of a step may read.

A body may read the declared attributes, ``contact.phone``/``contact.timezone``,
``step.id``, ``sequence.key``/``sequence.name``, ``enrollment.external_id``, and
``steps.ID.reply`` for a step ``ID`` whose reply is known before this step goes out.
Reply rules may also read ``reply``, the parsed answer to their own step.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from dripsms.core.templates import Reference

BUILTIN_FIELDS: dict[str, frozenset[str]] = {
    "contact": frozenset({"phone", "timezone"}),
    "step": frozenset({"id"}),
    "sequence": frozenset({"key", "name"}),
    "enrollment": frozenset({"external_id", "enrolled_at"}),
}
STEP_FIELDS = frozenset({"reply"})
ALERT_FIELDS = frozenset({"who", "phone", "step", "answer", "value", "reason", "why", "link"})
"""What a notify ``message`` reads about the alert (see docs/conversations.md)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The names one template may read."""

    attributes: frozenset[str]
    earlier_replies: frozenset[str]
    """Steps whose reply is settled before this template runs."""
    all_steps: frozenset[str]
    replying_steps: frozenset[str]
    """Every step that expects a reply."""
    own_reply: bool = False
    """Inside ``on_reply``: ``reply`` is the parsed answer."""
    alert: bool = False
    """A notify ``message``: ``alert.*`` describes the alert."""

    def problem(self, ref: Reference, *, own_step: str) -> str | None:
        """Why ``ref`` may not be read here, or None when it may."""
        root = ref[0]
        if root in self.attributes:
            return None
        if root == "reply":
            if self.own_reply:
                return None
            return "'reply' is only known inside on_reply; use steps.ID.reply"
        if root == "alert" and self.alert:
            if len(ref) < 2:
                fields = ", ".join(f"alert.{f}" for f in sorted(ALERT_FIELDS))
                return f"'alert' is not a value by itself; use {fields}"
            if ref[1] not in ALERT_FIELDS:
                known = ", ".join(sorted(ALERT_FIELDS))
                return f"'alert' has no field {ref[1]!r} (it has {known})"
            return None
        if root in BUILTIN_FIELDS:
            if len(ref) < 2:
                fields = ", ".join(f"{root}.{f}" for f in sorted(BUILTIN_FIELDS[root]))
                return f"'{root}' is not a value by itself; use {fields}"
            if ref[1] not in BUILTIN_FIELDS[root]:
                known = ", ".join(sorted(BUILTIN_FIELDS[root]))
                return f"'{root}' has no field {ref[1]!r} (it has {known})"
            return None
        if root == "steps":
            return self._step_problem(ref, own_step)
        return f"unknown name {root!r}: not a declared attribute nor a built-in{self._close(root)}"

    def _close(self, name: str) -> str:
        known = [*self.attributes, *BUILTIN_FIELDS, "steps"]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        return f"; did you mean {close[0]!r}?" if close else ""

    def _step_problem(self, ref: Reference, own_step: str) -> str | None:
        if len(ref) < 3 or ref[2] not in STEP_FIELDS:
            return f"{'.'.join(ref)!r}: write steps.ID.reply to read a step's reply"
        step_id = ref[1]
        if step_id not in self.all_steps:
            return f"unknown step {step_id!r} in steps.{step_id}.reply"
        if step_id not in self.replying_steps:
            return f"step {step_id!r} expects no reply, so steps.{step_id}.reply is never set"
        if step_id == own_step and self.own_reply:
            return None
        if step_id == own_step:
            return (
                f"steps.{step_id}.reply is the answer to this very step, so it is not known "
                "yet; read it in on_reply as 'reply'"
            )
        if step_id not in self.earlier_replies:
            return (
                f"steps.{step_id}.reply can never be decided here: step {step_id!r} is not "
                f"answered before step {own_step!r} goes out"
            )
        return None
