"""Response actions on a host (over SSH, or on this machine), behind one interface
(``backends.hostactions.base.HostAction``) and one registry (``backends.hostactions.registry``)."""

# The ids of every registered action, known without importing the action modules (start-up
# time); tests/test_host_process_actions.py checks it against the registry.
HOST_ACTION_IDS = frozenset(
    {
        "freeze", "resume", "kill", "collect", "bundle", "block", "unblock", "lock-user",
        "unlock-user", "remove-key", "disable", "restore", "quarantine", "restore-file", "scan",
    }
)  # fmt: skip
