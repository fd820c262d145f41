"""The `invoicing` command: a thin click layer over billing and run.

Library exceptions become one-line messages and exit codes in `common`, and only there.
The commands live by what they touch: `data` (schema, import, render), `runs` (run,
status, retry, credit, merge), `einvoice` (validate), `tools` (demo, bench), `settings`
(config), `web` (serve, token).
"""

from invoicing.cli import data, einvoice, runs, settings, tools, web  # noqa: F401 - each module registers its commands
from invoicing.cli.common import main

__all__ = ["main"]
