"""The `invoicing` command: a thin click layer over billing and run.

Library exceptions become one-line messages and exit codes in `common`, and only there.
The commands live by what they touch: `data` (schema, import, render), `runs` (run,
status, retry, credit), `outputs` (merge, export), `delivery` (deliver, bounces),
`einvoice` (validate), `tools` (demo, bench), `settings` (config), `web` (serve, token).
"""

# Each module registers its commands.
from invoicing.cli import data, delivery, einvoice, outputs, runs, settings, tools, web  # noqa: F401
from invoicing.cli.common import main

__all__ = ["main"]
