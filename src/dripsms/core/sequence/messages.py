"""Pydantic's validation errors in plain words, without pydantic's jargon.

``describe`` turns one error into the message a person reads next to ``file:line:col``;
it knows which model an error is in, so an unknown field is matched against the fields
that would be right there ("did you mean").
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from dripsms.core.attributes import AttributeType
from dripsms.core.sequence.model import (
    ACTION_KINDS,
    REPLY_TYPES,
    ChoiceReply,
    IntegerReply,
    Sequence,
    TextReply,
    YesNoReply,
)

_REPLY_MODELS: tuple[type[BaseModel], ...] = (IntegerReply, ChoiceReply, YesNoReply, TextReply)
_MAPPING_HINTS = {
    "At": ' such as {days: 1, time: "09:00"}',
    "After": " such as {step: day1, hours: 2}",
    "Hours": ' such as {start: "09:00", end: "17:00"}, or closed',
    "Attribute": " such as {type: string}, or just a type name",
    "NotifyTarget": " such as {webhook: https://..., phones: [...]}",
    "SendWindow": ' such as {start: "08:00", end: "20:00"}',
    "Step": " (id, at or after, body, ...)",
    "ReplyRule": " such as {if: reply >= 7, then: [...]}",
    "Action": " such as {send: TEXT}",
}
_NAMED_LISTS = {
    "steps": "step",
    "then": "action",
    "on_no_reply": "action",
    "on_reply": "reply rule",
    "values": "value",
    "phones": "phone number",
    "set": "attribute",
}


def shown(value: Any) -> str:
    """A YAML value as a person wrote it: ``'text'``, ``5``, ``true``, ``a list``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _strip(annotation: Any) -> list[Any]:
    """The types an annotation may hold, without ``Annotated`` wrappers and ``None``."""
    if get_origin(annotation) is Annotated:
        return _strip(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _strip(arg)]
    return [] if annotation is type(None) else [annotation]


def _tag_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    return get_args(field.annotation)[0] if field and get_origin(field.annotation) else None


def _step_into(annotation: Any, part: str | int) -> Any:
    """The type found one step down ``annotation`` along a pydantic error location."""
    options = _strip(annotation)
    if len(options) > 1:  # a tagged union: the location names the tag
        return next((t for t in options if isinstance(t, type) and _tag_of(t) == part), None)
    if not options:
        return None
    kind = options[0]
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        for name, info in kind.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    args = get_args(kind)
    if get_origin(kind) in (tuple, list) and args:
        return args[0]
    if get_origin(kind) is dict and len(args) == 2:
        return args[1]
    return None


def model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model a location is a field of: ``('steps', 0, 'at', 'x')`` is in ``At``."""
    annotation: Any = Sequence
    for part in loc[:-1]:
        annotation = _step_into(annotation, part)
        if annotation is None:
            return None
    options = _strip(annotation)
    if len(options) == 1 and isinstance(options[0], type) and issubclass(options[0], BaseModel):
        return options[0]
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _unknown_field(error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    name = str(loc[-1])
    model = model_at(loc)
    if model is not None and model.__name__ == "Action":
        return f"unknown action {name!r}; an action is one of {', '.join(ACTION_KINDS)}"
    if model in _REPLY_MODELS:
        owners = [str(_tag_of(m)) for m in _REPLY_MODELS if name in _field_names(m)]
        if owners:
            return f"{name!r} only applies to replies of type {' or '.join(owners)}"
    close = meant_field(loc)
    hint = f"; did you mean {close!r}?" if close else ""
    return f"unknown field {name!r}{hint}"


def meant_field(loc: tuple[str | int, ...]) -> str | None:
    """The field an unknown field at ``loc`` is most likely a typo of, if any is close."""
    model = model_at(loc)
    known = _field_names(model) if model is not None else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return close[0] if close else None


def _not_a_mapping(error: ErrorDetails) -> str:
    if not error["loc"]:
        return f"a sequence file is a mapping of fields (key, name, steps, ...), not {_got(error)}"
    if tuple(error["loc"])[-1] == "expect_reply":
        return f"expected a mapping such as {{type: yes_no}}, got {_got(error)}"
    hint = _MAPPING_HINTS.get(str(_ctx(error, "class_name")), "")
    return f"expected a mapping{hint or ' of fields'}, got {_got(error)}"


def _ctx(error: ErrorDetails, name: str) -> Any:
    return error.get("ctx", {}).get(name)


def _got(error: ErrorDetails) -> str:
    return shown(error.get("input"))


def _expected(what: str) -> Callable[[ErrorDetails], str]:
    def message(error: ErrorDetails) -> str:
        value = error.get("input")
        if value is None:
            return f"is empty; expected {what}"
        quote = what == "text" and isinstance(value, bool | int | float)
        return f"expected {what}, got {_got(error)}" + (
            " (quote it to make it text)" if quote else ""
        )

    return message


def _too_short(error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    if loc == ("steps",):
        return "a sequence needs at least one step"
    item = _NAMED_LISTS.get(str(loc[-1]) if loc else "", "item")
    return f"needs at least one {item}"


def _not_a_list(error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    item = _NAMED_LISTS.get(str(loc[-1]) if loc else "")
    what = f"a list of {item}s" if item else "a list"
    return _expected(what + " (items starting with '-', or [...])")(error)


def _literal(error: ErrorDetails) -> str:
    expected = str(_ctx(error, "expected"))
    if expected == "True":
        return f"write the action as just 'exit' (got exit: {_got(error)})"
    return f"expected {expected}; got {_got(error)}"


def _enum(error: ErrorDetails) -> str:
    model = model_at(tuple(error["loc"]))
    if model is not None and model.__name__ == "Attribute":
        kinds = ", ".join(t.value for t in AttributeType)
        return f"unknown attribute type {_got(error)}; use one of {kinds}"
    return f"expected {_ctx(error, 'expected')}; got {_got(error)}"


def _union_tag_invalid(error: ErrorDetails) -> str:
    return f"unknown reply type {_ctx(error, 'tag')!r}; use one of {', '.join(REPLY_TYPES)}"


_MESSAGES: dict[str, Callable[[ErrorDetails], str]] = {
    "extra_forbidden": _unknown_field,
    "missing": lambda e: f"missing required field {tuple(e['loc'])[-1]!r}",
    "union_tag_not_found": lambda e: f"needs a 'type': one of {', '.join(REPLY_TYPES)}",
    "union_tag_invalid": _union_tag_invalid,
    "model_type": _not_a_mapping,
    "model_attributes_type": _not_a_mapping,
    "dict_type": _not_a_mapping,
    "too_short": _too_short,
    "string_too_short": lambda e: "cannot be empty",
    "string_type": _expected("text"),
    "int_type": _expected("a whole number"),
    "int_parsing": _expected("a whole number"),
    "int_from_float": _expected("a whole number"),
    "bool_type": _expected("true or false"),
    "bool_parsing": _expected("true or false"),
    "tuple_type": _not_a_list,
    "list_type": _not_a_list,
    "literal_error": _literal,
    "enum": _enum,
    "greater_than_equal": lambda e: f"must be {_ctx(e, 'ge')} or more, got {_got(e)}",
    "url_parsing": lambda e: f"{_got(e)} is not a web address such as 'https://example.org/hook'",
    "url_type": _expected("a web address such as 'https://example.org/hook'"),
    "url_scheme": lambda e: f"{_got(e)} is not a web address such as 'https://example.org/hook'",
}


def describe(error: ErrorDetails) -> str:
    """The message for one pydantic error, in plain words."""
    handler = _MESSAGES.get(error["type"])
    if handler is not None:
        return handler(error)
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


__all__ = ["describe", "meant_field", "model_at", "shown"]
