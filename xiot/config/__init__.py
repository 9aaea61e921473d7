"""Configuration: settings resolved from flags, environment and profiles; files; credentials.

Precedence is flags > ``XIOT_*`` environment > profile > defaults, resolved once per command
into a frozen ``Settings``.  This package sits below the XMPP layer and imports nothing from
it: JID syntax is checked by whoever resolves (the runtime passes the parser in).
"""

from xiot.config.credentials import Credential, fetch_password
from xiot.config.files import ConfigFile, read_all
from xiot.config.settings import (
    DEFAULT_TIMEOUT,
    GlobalOptions,
    Settings,
    parse_server,
    profile_names,
    resolve,
)
from xiot.paths import config_dir, state_dir

__all__ = [
    "DEFAULT_TIMEOUT", "ConfigFile", "Credential", "GlobalOptions", "Settings",
    "config_dir", "fetch_password", "parse_server", "profile_names", "read_all", "resolve",
    "state_dir",
]
