"""Response actions on a host (over SSH, or on this machine), behind one interface
(``backends.hostactions.base.HostAction``) and one registry (``backends.hostactions.registry``)."""
