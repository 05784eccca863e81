"""Fuzzing the parser and the command: inputs made from corpus logs and from envelope shapes,
checked by one oracle (no exception, no hang, nothing outside OUT, a valid store).

`tests/test_fuzz.py` runs a short, reproducible pass; `scripts/fuzz` runs the long one and saves
crashes as recipes ready to go into `tests/regressions/`.
"""
