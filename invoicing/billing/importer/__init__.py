"""`invoicing import`: JSON and CSV files upserted in one transaction, all or nothing.

A file with any invalid row imports nothing; every bad row is reported with its
position and reason, so a billing team fixes the file in one pass.
"""

from pathlib import Path

from sqlalchemy.orm import Session

from invoicing.billing.importer.sources import load_file, read_files
from invoicing.billing.importer.upsert import Counts, ImportSummary, import_data, import_sources
from invoicing.config import Settings, get_settings
from invoicing.errors import ImportProblems


def import_files(session: Session, paths: list[Path], settings: Settings | None = None) -> ImportSummary:
    """Upsert every file (JSON or CSV) in the caller's transaction."""
    settings = settings or get_settings()
    return import_sources(session, read_files(paths, settings.import_max_mb * 2**20), settings)


__all__ = [
    "Counts",
    "ImportProblems",
    "ImportSummary",
    "import_data",
    "import_files",
    "load_file",
]
