"""The index page shell: the header, then each module's blocks in modules.yaml order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from .. import __version__
from ..parse.stats import strict_failures


@dataclass
class Block:
    """One module block as the index template shows it."""

    module: str
    section: str
    title: str
    kind: str
    html: Markup
    shard: str
    shard_module: str
    renderer: str



@dataclass
class Section:
    """Blocks of one section id, from one module or several (e.g. downloads)."""

    id: str
    title: str
    blocks: list[Block]

    @property
    def anchor(self) -> str:
        return f"tlp-{self.id}"


def sections_of(blocks: list[Block]) -> list[Section]:
    """Group blocks by section id, in the order sections first appear."""
    sections: dict[str, Section] = {}
    for block in blocks:
        section = sections.setdefault(block.section, Section(block.section, block.title, []))
        section.blocks.append(block)
    return list(sections.values())


def blocks_from_records(records: list[dict[str, Any]]) -> list[Block]:
    """Every index entry; `order` places it on the page (ties keep modules.yaml order)."""
    entries = []
    for position, record in enumerate(records):
        for entry in record["index_entries"]:
            entries.append((entry.get("order", 0), position, record, entry))
    entries.sort(key=lambda item: (item[0], item[1]))
    # Module HTML was rendered by autoescaping templates, so it is trusted markup here.
    return [Block(record["module"]["id"], entry["section"], entry["title"], entry["kind"],
                  Markup(entry["html"]), entry["shard"],
                  entry["shard_module"] or record["module"]["id"], entry["renderer"])
            for _, _, record, entry in entries]


def build_index(records: list[dict[str, Any]], manifest: dict[str, Any], run: dict[str, Any],
                env: jinja2.Environment) -> str:
    stats = manifest["stats"]
    return env.get_template("index.html").render(
        sections=sections_of(blocks_from_records(records)),
        source=manifest["source"],
        totals=manifest["totals"],
        problem_count=strict_failures(stats),
        modules=[r["module"]["name"] for r in records],
        custom_header_html=Markup(run.get("custom_header_html") or ""),  # the user's own HTML
        eager=bool(run.get("eager")),
        version=__version__,
    )
