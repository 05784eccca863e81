"""Helpers for the headless-Chromium tests: building reports and watching what a page does."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tests.logs import cid, entry

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Error, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
REPO = Path(__file__).resolve().parents[1]

# Names that must stay text: an artifact, a link (unsafe URLs), path-escaping dumps, a frame.
HOSTILE_ARTIFACT = "<img src=x onerror=alert(1)>"
HOSTILE_LINK_NAME = "<script>alert(2)</script>"
HOSTILE_FRAME_FILE = "<img src=x onerror=alert(4)>.py"
HOSTILE_FRAME_FN = "<svg onload=alert(5)>"
UNSAFE_URLS = (
    "javascript:alert(3)",
    " JaVaScRiPt:alert(6)",
    "data:text/html,<script>alert(7)</script>",
    "vbscript:msgbox(8)",
    "java\tscript:alert(9)",
)


def hostile_log() -> str:
    """A small compile whose names and URLs try to inject markup, run script or escape OUT."""
    lines = [
        entry({"str": [HOSTILE_FRAME_FILE, 0]}),
        entry({"dynamo_start": {"stack": [{"line": 1, "name": HOSTILE_FRAME_FN, "filename": 0}]}, **cid()}),
        entry({"dynamo_output_graph": {"sizes": {}}, **cid()}, "class GraphModule:\n    pass"),
        entry({"artifact": {"name": HOSTILE_ARTIFACT, "encoding": "string"}, **cid()}, "x"),
        *(entry({"link": {"name": f"{HOSTILE_LINK_NAME} {i}", "url": url}, **cid()})
          for i, url in enumerate(UNSAFE_URLS)),
        entry({"link": {"name": "safe link", "url": "https://example.invalid/ok"}, **cid()}),
        entry({"dump_file": {"name": "../../evil"}, **cid()}, "evil = 1"),
        entry({"graph_dump": {"name": "../../evil2"}, **cid()}, "evil = 2"),
        entry({"graph_dump": {"name": "../../../../../evil3"}, **cid()}, "evil = 3"),
        entry({"compilation_metrics": {"graph_op_count": 1, "restart_reasons": []}, **cid()}),
    ]
    return "".join(lines)


def build_report(log: Path, out: Path, *extra: str) -> Path:
    """Run the CLI (`python -m tlparse_tasks LOG -o OUT --no-browser ...`); return OUT/index.html."""
    result = subprocess.run(
        [sys.executable, "-m", "tlparse_tasks", str(log), "-o", str(out), "--no-browser", *extra],
        cwd=log.parent, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, f"tlparse failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    index = out / "index.html"
    assert index.is_file(), f"{index} was not written"
    return index


def tree(root: Path) -> set[str]:
    """Every path under root, relative and POSIX-style."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@dataclass
class PageWatch:
    """Everything a page asked for or complained about, recorded as it happens."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> PageWatch:
        page.on("request", self._on_request)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("dialog", self._on_dialog)
        return self

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_page_error(self, error: Error) -> None:
        self.page_errors.append(str(error))

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def non_file_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith("file://")]

    def requests_for(self, suffix: str) -> list[str]:
        return [url for url in self.requests if url.endswith(suffix)]


def dom_of_js(layout_tags: tuple[str, ...] = ("UL", "OL")) -> str:
    """A page function: a DOM subtree as nested [tag, sorted attributes, children], runs of
    whitespace as one space, adjacent texts merged, and whitespace-only texts dropped at the root
    and inside `layout_tags` (markup layout a reader does not see), kept elsewhere (between links).
    The twin tests compare what Jinja and modules.js build with it."""
    layout = ", ".join(f'"{tag}"' for tag in layout_tags)
    return """root => {
  const layout = new Set([LAYOUT_TAGS]);
  function walk(node) {
    const attrs = Array.from(node.attributes).map(a => [a.name, a.value]).sort();
    const children = [];
    for (const child of node.childNodes) {
      if (child.nodeType === Node.ELEMENT_NODE) { children.push(walk(child)); continue; }
      if (child.nodeType !== Node.TEXT_NODE) continue;
      const text = child.textContent.replace(/\\s+/g, " ");
      if (text.trim() === "" && (node === root || layout.has(node.tagName))) continue;
      if (children.length && typeof children[children.length - 1] === "string") {
        children[children.length - 1] += text;
      } else {
        children.push(text);
      }
    }
    return [node.tagName.toLowerCase(), attrs, children];
  }
  return walk(root);
}""".replace("LAYOUT_TAGS", layout)
