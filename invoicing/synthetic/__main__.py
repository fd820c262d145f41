"""`python -m invoicing.synthetic COUNT PERIOD [--seed S] [--countries CC,CC] [-o FILE]`."""

from invoicing.synthetic import main

raise SystemExit(main())
