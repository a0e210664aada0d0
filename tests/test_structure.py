"""The shape of worker/, read from its source: no import cycle, no module over 600 lines, and the
schedules checked without the broker.  Imports are read with ``ast`` (those inside functions too:
a cycle deferred to call time is still a cycle a reader has to hold in mind)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from worker.config import PROJECT_ROOT

WORKER = PROJECT_ROOT / "worker"
MAX_LINES = 600
# Modules known to be over the limit, each with the reason it still is.  An entry that is no longer
# needed fails the test, so the list only ever shrinks.
OVER_THE_LIMIT: dict[str, str] = {}   # module → why it may stay over the limit for now


def modules() -> dict[str, Path]:
    found = {}
    for path in WORKER.rglob("*.py"):
        parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of worker/ that ``name`` imports (``from . import x`` names module x)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                if node.level else node.module or ""
            targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    out = set()
    for t in targets:
        while t not in known and "." in t:
            t = t.rsplit(".", 1)[0]
        if t in known and t != name:
            out.add(t)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from . import a\n")
    (tmp_path / "c.py").write_text("from . import a\n")
    known = {"worker.a": tmp_path / "a.py", "worker.b": tmp_path / "b.py", "worker.c": tmp_path / "c.py"}
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert graph == {"worker.a": {"worker.b"}, "worker.b": {"worker.a"}, "worker.c": {"worker.a"}}
    assert cycles(graph) == [["worker.a", "worker.b"]]


def test_no_module_of_worker_imports_itself_back():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert graph["worker.cli"] >= {"worker.commands.runs"}        # the reader sees the imports it should
    loops = cycles(graph)
    assert not loops, "import cycles: " + "; ".join(
        " ↔ ".join(c) + " (" + ", ".join(f"{m} → {sorted(graph[m] & set(c))}" for m in c) + ")" for c in loops)


def test_no_module_of_worker_is_over_600_lines():
    lengths = {str(p.relative_to(PROJECT_ROOT)): len(p.read_text(encoding="utf-8").splitlines())
               for p in modules().values()}
    over = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert set(over) - set(OVER_THE_LIMIT) == set(), f"over {MAX_LINES} lines: {over}"
    assert set(OVER_THE_LIMIT) - set(over) == set(), "back under the limit: drop it from OVER_THE_LIMIT"


def test_the_schedules_are_checked_without_the_broker_or_the_jobs():
    """``hotline schedules validate`` (and the scheduler reading an edit) must not set up the broker
    and logging as importing ``worker.tasks`` does; an unknown actor is still refused by name."""
    script = ("import sys\n"
              "from worker.schedules import ScheduleError, load\n"
              f"cfg = load({str(PROJECT_ROOT / 'schedules.yaml')!r})\n"
              "assert cfg.schedules\n"
              "print(sorted(m for m in sys.modules if m == 'dramatiq' or m.startswith('worker.tasks')))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_job_defined_is_named_in_job_names_and_every_name_is_a_job():
    from worker import tasks  # noqa: F401 — defines the jobs
    from worker.job_names import JOB_NAMES
    from worker.jobs import JOBS

    assert sorted(JOBS) == sorted(JOB_NAMES)
