"""`python -m tlparse_tasks` is the `tlparse` command."""

from .cli import console_main

console_main()
