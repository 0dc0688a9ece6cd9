"""Building an engine part's config from :class:`~dripsms.settings.Settings`, the one source of
its values (a config has no defaults of its own)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from dripsms.settings import Settings

C = TypeVar("C")


def config_from(config: type[C], settings: Settings, /, **given: Any) -> C:
    """A ``config`` dataclass whose fields carry the settings of the same name; ``given``
    names the others (what the runtime resolves, a setting under another name)."""
    names = [f.name for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    read = {name: getattr(settings, name) for name in names if name not in given}
    return config(**read, **given)
