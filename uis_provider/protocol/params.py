"""Checks of task parameters that operators, the sensor and the connection share, made before any API call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from uis_provider.exceptions import UISConfigurationError


def positive_int(value: Any, parameter: str, what: str) -> int:
    """``value`` as an int >= 1 (digit strings from templates accepted), else an error naming ``parameter``."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UISConfigurationError(f"{parameter} must be a positive whole number ({what}), got {value!r}")
    return value


def optional_user_id(value: Any, parameter: str = "user_id") -> int | None:
    """An agent's client ``user_id`` as a positive int, ``None`` when unset (empty templates render as "")."""
    if value is None or value == "":
        return None
    return positive_int(value, parameter, "the client's user id, from get.customer_users")


def optional_mapping(value: Any, parameter: str) -> dict[str, Any]:
    """A dict parameter such as ``extra_params`` (``None`` = empty); anything else is refused naming it."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UISConfigurationError(f"{parameter} must be a dict, got {type(value).__name__} {value!r:.80}")
    return dict(value)


def one_of(value: Any, choices: Sequence[str], parameter: str, what: str) -> str:
    """``value`` when it is one of ``choices``, else an error naming ``parameter``, the choices and ``what``."""
    if value not in choices:
        named = [repr(choice) for choice in choices]
        options = " or ".join(named) if len(named) == 2 else f"one of {', '.join(named)}"
        raise UISConfigurationError(f"{parameter} must be {options} ({what}), got {value!r}")
    return str(value)
