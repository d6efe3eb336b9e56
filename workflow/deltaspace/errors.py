"""Errors a user can act on. Each message names the config key and the path involved."""


class DeltaspaceError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""


class ConfigError(DeltaspaceError):
    pass


class CheckpointError(DeltaspaceError):
    pass


class DataError(DeltaspaceError):
    pass
