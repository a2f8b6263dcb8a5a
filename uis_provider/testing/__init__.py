"""Testing tools shipped with the provider: ``UISEmulator``, an offline UIS Data API for tests and demos.

Imported lazily so that ``python -m uis_provider.testing.emulator`` runs the module only once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uis_provider.testing.emulator import UISEmulator

__all__ = ["UISEmulator"]


def __getattr__(name: str) -> Any:
    if name == "UISEmulator":
        from uis_provider.testing.emulator import UISEmulator

        return UISEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
