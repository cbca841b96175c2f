"""Detection: rules that turn snapshots and host facts into findings.

``Detector(config).evaluate(snapshot, facts)`` returns :class:`domain.findings.Finding` objects.
The configuration (thresholds, allowlists, extra indicators, user rules) comes from
:class:`DetectConfig` or a TOML rules file (:func:`load_rules_file`; the format is documented in
:mod:`domain.detect.config`). The built-in rules are listed in :mod:`domain.detect.catalog`.
"""

from .catalog import RULES, RuleInfo
from .config import DetectConfig, RulesError, Thresholds, config_from_dict, load_rules_file
from .engine import Detector, FactsRequest

__all__ = [
    "RULES",
    "DetectConfig",
    "Detector",
    "FactsRequest",
    "RuleInfo",
    "RulesError",
    "Thresholds",
    "config_from_dict",
    "load_rules_file",
]
