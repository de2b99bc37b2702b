"""One base error class: the CLI reports any SynthesizrrError as one line (exit 2) instead of a traceback."""


class SynthesizrrError(Exception):
    """A problem the user can fix; the message is one line naming what is wrong and what is allowed."""


class ConfigError(SynthesizrrError, ValueError):
    """A config value is wrong; the message names the key and what is allowed."""


class DataError(SynthesizrrError, ValueError):
    """Bad input data; the message names the file, column or label."""


class OfflineAssetMissing(SynthesizrrError, RuntimeError):
    """An offline asset's package is not installed."""
