"""The stack configuration: the only package that knows Pulumi config keys.

    types     value types of single keys (full-match checks with examples)
    sections  every key: type, default, documentation, grouped by section
    model     the validated StackConfig, its secrets, Problem and ConfigError
    loader    read the keys, validate everything, one error with every problem
    rules/    cross-field rules, one module per concern
    advice    valid but probably unmeant: warnings

The names below are the package's public interface.
"""

from common.enums import (
    Alignment,
    AppPreset,
    DkimSigner,
    DmarcPolicy,
    DnsProvider,
    Environment,
    MailRelay,
    MtaStsMode,
    ServerImage,
    SpfAll,
    Target,
)
from mailstack.config.advice import advice
from mailstack.config.loader import load_config, validate
from mailstack.config.model import (
    PROJECT,
    ConfigError,
    KeySpec,
    Problem,
    Secrets,
    StackConfig,
    key_specs,
)
from mailstack.config.sections import SECTIONS

__all__ = [
    "PROJECT",
    "SECTIONS",
    "Alignment",
    "AppPreset",
    "ConfigError",
    "DkimSigner",
    "DmarcPolicy",
    "DnsProvider",
    "Environment",
    "KeySpec",
    "MailRelay",
    "MtaStsMode",
    "Problem",
    "Secrets",
    "ServerImage",
    "SpfAll",
    "StackConfig",
    "Target",
    "advice",
    "key_specs",
    "load_config",
    "validate",
]
