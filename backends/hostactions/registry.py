"""Every host action by id (``domain.findings.ACTIONS`` ids, and ``sickbay act TARGET ID``).

Explicit imports, one line per module: an action exists only if it is listed here.
"""

from __future__ import annotations

from backends.hostactions import accounts, evidence, files, firewall, persistence, process, scan
from backends.hostactions.base import HostAction

_ALL: tuple[HostAction, ...] = (
    *process.ACTIONS,
    *evidence.ACTIONS,
    *firewall.ACTIONS,
    *accounts.ACTIONS,
    *persistence.ACTIONS,
    *files.ACTIONS,
    *scan.ACTIONS,
)

ACTIONS: dict[str, HostAction] = {action.id: action for action in _ALL}


def get(action_id: str) -> HostAction:
    """The action ``action_id``; KeyError (with the known ids) if there is none."""
    try:
        return ACTIONS[action_id]
    except KeyError:
        known = ", ".join(sorted(ACTIONS))
        raise KeyError(f"no host action {action_id!r} (known: {known})") from None
