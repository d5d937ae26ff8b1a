"""Export: one operating point as a documented JSON file, and the way back to a Keras loss and a
decision rule for production training."""

from __future__ import annotations

from sweeper.export._document import (
    SCHEMA_VERSION,
    export_document,
    export_schema,
    validate_export,
    write_export,
)
from sweeper.export._exported import ExportedWeights, load_export

__all__ = [
    "SCHEMA_VERSION",
    "ExportedWeights",
    "export_document",
    "export_schema",
    "load_export",
    "validate_export",
    "write_export",
]
