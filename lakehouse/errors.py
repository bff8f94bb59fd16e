"""The project's exceptions: one root, a few subclasses that say what to do."""


class LakehouseError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(LakehouseError):
    """A setting is missing, unknown or has a wrong value; the message names the key and the fix."""


class SetupError(LakehouseError):
    """Something the runtime needs (jars, a binary) is not where it should be."""


class DataError(LakehouseError):
    """Input data cannot be processed as asked; the message names the file, table or column."""


class ExportError(LakehouseError):
    """A warehouse load failed and was rolled back; the message names the table and the cause."""


class DataQualityError(LakehouseError):
    """The quality gate did not pass for a table; the message names it and the failed checks."""
