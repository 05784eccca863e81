"""The index page shell: the header, then each module's blocks in modules.yaml order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from . import __version__
from .parse.stats import format_stats


@dataclass
class Block:
    """One module block as the index template shows it."""

    module: str
    section: str
    title: str
    kind: str
    html: Markup
    href: str
    shard: str
    shard_module: str
    renderer: str

    @property
    def anchor(self) -> str:
        return f"tlp-{self.section}"


def blocks_from_records(records: list[dict[str, Any]]) -> list[Block]:
    blocks = []
    for record in records:
        entries = sorted(record["index_entries"], key=lambda e: e.get("order", 0))
        for entry in entries:
            # Module HTML was rendered by autoescaping templates, so it is trusted markup here.
            blocks.append(Block(record["module"]["id"], entry["section"], entry["title"],
                                entry["kind"], Markup(entry["html"]), entry["href"], entry["shard"],
                                entry["shard_module"] or record["module"]["id"], entry["renderer"]))
    return blocks


def build_index(records: list[dict[str, Any]], manifest: dict[str, Any], run: dict[str, Any],
                env: jinja2.Environment) -> str:
    stats = manifest["stats"]
    return env.get_template("index.html").render(
        blocks=blocks_from_records(records),
        source=manifest["source"],
        totals=manifest["totals"],
        stats_line=format_stats(stats),
        problems=manifest["problems"],
        problem_count=sum(v for k, v in stats.items() if k.startswith("fail_") or k == "other_rank"),
        modules=[r["module"]["name"] for r in records],
        custom_header_html=Markup(run.get("custom_header_html") or ""),  # the user's own HTML
        eager=bool(run.get("eager")),
        version=__version__,
    )
