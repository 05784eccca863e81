"""`--all-ranks-html`: rank discovery, the one doit DAG over every rank, the landing page and
the optional Dask executor. The driver (tlparse_tasks.multi_rank) ties them together."""
