"""Task creators return plain dicts: check them without running doit."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from tlparse_tasks.actions import (
    clean_assemble,
    clean_module,
    clean_parse,
    log_parsed,
    run_assemble,
    run_module,
    run_parse,
)
from tlparse_tasks.config import load_config
from tlparse_tasks.loader import tasks_for
from tlparse_tasks.resources import default_modules_yaml
from tlparse_tasks.runconfig import RunConfig, norm
from tlparse_tasks.store.streams import INTERMEDIATE_FILES, PARSE_STATE_FILE
from tlparse_tasks.tasks import (
    doit_config,
    generate_tasks,
    task_assemble,
    task_module,
    task_parse,
)


@pytest.fixture
def cfg(tmp_path: Path) -> RunConfig:
    return RunConfig(log=tmp_path / "trace.log", out=tmp_path / "out",
                     modules=load_config(default_modules_yaml()))


def _digest(task: dict[str, Any]) -> str:
    (checker,) = task["uptodate"]
    return str(checker._calc_digest())


def test_parse_task_targets_every_intermediate_file(cfg: RunConfig) -> None:
    task = task_parse(cfg)
    assert task["basename"] == "parse"
    assert "file_dep" not in task  # doit would checksum the log after the parse, appends included
    assert [u[0] for u in task["uptodate"] if isinstance(u, tuple)] == [log_parsed]
    assert sorted(Path(t).name for t in task["targets"]) == sorted([*INTERMEDIATE_FILES, PARSE_STATE_FILE])
    func, args = task["actions"][0]
    assert func is run_parse and args[0] == norm(cfg.log)


def test_module_task_depends_on_its_subscriptions_and_templates(cfg: RunConfig) -> None:
    spec = cfg.modules.get("compile_directory")
    task = task_module(cfg, spec)
    assert (task["basename"], task["name"]) == ("module", "compile_directory")
    deps = {Path(d).name for d in task["file_dep"]}
    assert deps == {"manifest.json", "index.jsonl", "help_ir.html", "compile_directory.html",
                    "compile_directory_download.html", "artifact_list.html",
                    "compile_directory.py"}  # its subscriptions, templates, source
    assert task["targets"] == [norm(cfg.out / ".modules" / "compile_directory.json")]
    assert len(task["uptodate"]) == 1  # two config_changed in one task re-run forever


def test_module_file_deps_are_the_parse_targets_string_for_string(cfg: RunConfig) -> None:
    """doit links tasks only when a file_dep equals a target exactly."""
    parse_targets = set(task_parse(cfg)["targets"])
    for spec in cfg.active_modules():
        intermediate = [d for d in task_module(cfg, spec)["file_dep"] if "/intermediate/" in d]
        assert intermediate and set(intermediate) <= parse_targets


def test_digest_changes_with_options_and_templates_but_not_with_other_modules(cfg: RunConfig, tmp_path: Path) -> None:
    spec = cfg.modules.get("stack_trie")
    base = _digest(task_module(cfg, spec))
    assert _digest(task_module(cfg, spec)) == base
    cfg.eager = True
    assert _digest(task_module(cfg, spec)) != base
    cfg.eager = False
    cfg.custom_header_html = "<b>hi</b>"  # only the index sees the header
    assert _digest(task_module(cfg, spec)) == base
    assert _digest(task_assemble(cfg, cfg.active_modules())) != _digest(
        task_assemble(RunConfig(cfg.log, cfg.out, cfg.modules), cfg.active_modules()))


def test_assemble_reads_only_the_records_of_selected_modules(cfg: RunConfig) -> None:
    cfg.selected = ("stack_trie",)
    tasks = list(generate_tasks(cfg))
    assert [t.get("name", t["basename"]) for t in tasks] == ["parse", "stack_trie", "assemble"]
    records = [d for d in tasks[-1]["file_dep"] if "/.modules/" in d]
    assert records == [norm(cfg.out / ".modules" / "stack_trie.json")]


def test_skip_modules(cfg: RunConfig) -> None:
    cfg.skipped = ("stack_trie",)
    active = [m.id for m in cfg.active_modules()]
    assert "stack_trie" not in active
    assert active == [m.id for m in cfg.modules.for_mode(cfg.mode) if m.id != "stack_trie"]


def test_modes_filter_modules(cfg: RunConfig) -> None:
    cfg.mode = "export"
    assert all("export" in m.modes for m in cfg.active_modules())


def test_actions_are_picklable_for_parallel_runs(cfg: RunConfig) -> None:
    for task in generate_tasks(cfg):
        for action in task["actions"]:
            func, args = action
            assert func in (run_parse, run_module, run_assemble)
            pickle.dumps((func, args))


def test_clean_actions_are_module_functions_of_plain_data(cfg: RunConfig) -> None:
    """doit clean runs them; like the actions they must pickle (no lambdas, no closures)."""
    cleans = {t.get("name", t["basename"]): t["clean"] for t in generate_tasks(cfg)}
    assert cleans["parse"] == [(clean_parse, [norm(cfg.out)])]
    assert cleans["stack_trie"] == [(clean_module, [norm(cfg.out), "stack_trie"])]
    assert cleans["assemble"] == [(clean_assemble, [norm(cfg.out)])]
    pickle.dumps(cleans)


def test_doit_config_is_pure_and_names_every_task(cfg: RunConfig) -> None:
    config = doit_config(cfg)
    assert not cfg.out.exists()  # creating OUT is for the code that runs tasks
    assert config["dep_file"] == norm(cfg.out / ".tlparse-doit.db")
    assert config["default_tasks"] == ["parse", "module", "assemble"]
    names = {t.name for t in tasks_for(cfg)}
    assert set(config["default_tasks"]) <= names
    cfg.selected = ()  # no module at all: there is no `module` group to name
    assert doit_config(cfg)["default_tasks"] == ["parse", "assemble"]


def test_doit_tasks_are_named_for_selection(cfg: RunConfig) -> None:
    names = [t.name for t in tasks_for(cfg)]
    assert names[0] == "parse" and names[-1] == "assemble"
    assert "module:stack_trie" in names and "module:compile_directory" in names


def test_each_module_declares_every_template_it_renders_or_imports() -> None:
    """A template missing from `templates:` would not be a file_dep, so editing it would leave
    stale pages: every `extends`/`import`/`include` must be declared by the module."""
    import jinja2.meta

    from tlparse_tasks.render import jinja_env
    from tlparse_tasks.resources import template_dirs

    env = jinja_env(tuple(str(d) for d in template_dirs()))
    for spec in load_config(default_modules_yaml()).modules:
        declared = set(spec.templates)
        for name in spec.templates:
            if not name.endswith(".html"):
                continue
            source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
            referenced = set(jinja2.meta.find_referenced_templates(env.parse(source)))
            assert referenced <= declared, f"{spec.id}: {name} uses {referenced - declared}"


def test_a_module_may_only_render_templates_it_declared(tmp_path: Path) -> None:
    from tlparse_tasks.module_api import ModuleContext
    from tlparse_tasks.resources import template_dirs

    ctx = ModuleContext("stack_trie", tmp_path, {}, {}, [str(d) for d in template_dirs()], ("stack_trie.html",))
    with pytest.raises(ValueError, match=r"renders cache\.html, which modules\.yaml does not declare"):
        ctx.render("cache.html", summary={}, rows=[], items=[], total=0)


def test_expected_costs_scale_with_the_log_and_order_the_ready_tasks(cfg: RunConfig) -> None:
    from collections import deque
    from types import SimpleNamespace

    from tlparse_tasks.tasks import COST, PARSE_COST
    from tlparse_tasks.workers import costliest_first

    with open(cfg.log, "wb") as handle:
        handle.truncate(64 << 20)
    artifacts = task_module(cfg, cfg.modules.get("compile_artifacts"))
    raw = task_module(cfg, cfg.modules.get("raw"))
    assert task_parse(cfg)["meta"][COST] == pytest.approx(PARSE_COST / 16)
    assert artifacts["meta"][COST] == pytest.approx(cfg.modules.get("compile_artifacts").cost / 16)
    assert raw["meta"][COST] == pytest.approx(cfg.modules.get("raw").cost / 16)
    assert raw["meta"][COST] < artifacts["meta"][COST]
    nodes = [SimpleNamespace(name=t["name"], task=SimpleNamespace(meta=t["meta"])) for t in (raw, artifacts)]
    ready = deque([*nodes, SimpleNamespace(name="plain", task=SimpleNamespace(meta=None))])
    costliest_first(ready)
    assert [n.name for n in ready] == ["compile_artifacts", "raw", "plain"]


def test_after_an_append_the_modules_that_read_everything_again_go_first(cfg: RunConfig) -> None:
    """In a run that resumes, a module's expected time counts its `resumed_cost` for the log it
    has seen (its state carries most of that over) and its `cost` for the new bytes: search,
    which packs its whole index again, and recompiles, which has no state, go before
    compile_artifacts, first in a run from the start."""
    from tlparse_tasks.tasks import COST

    def order() -> list[str]:
        remeasure(cfg)
        specs = cfg.modules.for_mode("default")
        costs = {spec.id: task_module(cfg, spec)["meta"][COST] for spec in specs}
        return sorted(costs, key=lambda m: -costs[m])

    with open(cfg.log, "wb") as handle:
        handle.truncate(100 << 20)
    assert order()[0] == "compile_artifacts"
    assert order().index("recompiles") > order().index("compile_artifacts")
    save_parse_point(cfg, 99 << 20)
    resumed = order()
    assert resumed[0] == "search"
    assert resumed.index("recompiles") < resumed.index("compile_artifacts")
    spec = cfg.modules.get("recompiles")
    assert task_module(cfg, spec)["meta"][COST] == pytest.approx(spec.cost * 100 / 1024)  # all of it, again


def test_costly_tasks_and_only_they_get_a_process_of_their_own(cfg: RunConfig) -> None:
    """workers.py forks a child for a task expected to take a while (its cost times the log's
    size): the heap it grows would otherwise stay with the worker for every later task. On a
    small log no task does, and no fork is paid for."""
    from tlparse_tasks.tasks import OWN_PROCESS, OWN_PROCESS_MIN_SECONDS, PARSE_COST

    cfg.log.write_bytes(b"x" * (3 << 20))
    remeasure(cfg)
    assert not any(task_module(cfg, spec)["meta"][OWN_PROCESS] for spec in cfg.modules.modules)
    assert task_parse(cfg)["meta"][OWN_PROCESS] is False
    with open(cfg.log, "r+b") as handle:
        handle.truncate(100 << 20)  # 11_large's size
    remeasure(cfg)
    assert task_parse(cfg)["meta"][OWN_PROCESS] is True and PARSE_COST * 0.1 >= OWN_PROCESS_MIN_SECONDS
    forked = {spec.id for spec in cfg.modules.modules if task_module(cfg, spec)["meta"][OWN_PROCESS]}
    assert forked == {"compilation_metrics", "search", "cache", "compile_times", "compile_artifacts",
                      "compile_directory", "guards", "symbolic_shapes"}


def remeasure(cfg: RunConfig) -> None:
    """The log's size and the bytes to read are measured once per run: measure again."""
    cfg.__dict__.pop("log_bytes", None)
    cfg.__dict__.pop("bytes_to_read", None)


def save_parse_point(cfg: RunConfig, offset: int, **options: bool) -> None:
    """A parse state in OUT saying the last parse (with `options`) can resume at `offset`."""
    import orjson

    from tlparse_tasks.parse.state import STATE_FORMAT, ParseOptions, ParseState
    from tlparse_tasks.store.streams import PARSE_STATE_FILE, intermediate_dir

    state = ParseState(ParseOptions(**options)).to_json()
    idir = intermediate_dir(cfg.out)
    idir.mkdir(parents=True, exist_ok=True)
    (idir / PARSE_STATE_FILE).write_bytes(orjson.dumps(
        {"format": STATE_FORMAT,
         "resume": {"offset": offset, "length": offset, "digest": "unchecked", "state": state, "streams": {}}}))


def test_a_re_run_after_an_append_forks_for_what_it_will_read(cfg: RunConfig) -> None:
    """After a 1% append to a 100 MB log the modules read the new records (their states hold
    the rest): no task is expected to take long, and none pays for a process of its own. The
    parse state is only a guess here (its digest is not checked): one saved with other options,
    or past the log's end, counts for nothing."""
    from tlparse_tasks.tasks import OWN_PROCESS

    def forked() -> set[str]:
        remeasure(cfg)
        return {spec.id for spec in cfg.modules.modules if task_module(cfg, spec)["meta"][OWN_PROCESS]}

    with open(cfg.log, "wb") as handle:
        handle.truncate(100 << 20)
    save_parse_point(cfg, 99 << 20)
    assert forked() == set()
    assert cfg.bytes_to_read == 1 << 20
    save_parse_point(cfg, 99 << 20, export=True)  # this run parses from the start
    assert "search" in forked()
    save_parse_point(cfg, 101 << 20)  # a log shorter than the point: started again
    assert "search" in forked()
    save_parse_point(cfg, 1 << 20)  # most of the log is new
    assert "search" in forked()


def test_the_warm_up_compiles_templates_not_static_assets(cfg: RunConfig) -> None:
    """Static assets (`static/…`, declared so that editing one re-runs its module) are copied
    as they are: the warm-up loads only the Jinja templates."""
    from tlparse_tasks.loader import warm_up_for

    warm_up = warm_up_for(cfg)
    entries, _dirs, templates = warm_up.args
    declared = {t for m in cfg.active_modules() for t in m.templates}
    assert "static/highlight.js" in declared and "search.html" in declared
    assert set(templates) == {t for t in declared if not t.startswith("static/")}
    assert set(entries) == {m.entry for m in cfg.active_modules()}
