"""`python -m tlparse_tasks` is the `tlparse` command."""

from .cli import main

raise SystemExit(main())
