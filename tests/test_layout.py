"""The code's layout conventions, checked from the source: subpackages import each other without cycles, and
each rule file holds the rules of the stage module of the same name."""

import ast
import re
from graphlib import CycleError, TopologicalSorter

import pytest

from conftest import REPO

PACKAGE = REPO / "workflow" / "deltaspace"
RULES = REPO / "rules"


def imported_subpackages(path) -> set[str]:
    """The top-level parts of deltaspace (subpackage or module) that the file at `path` imports."""
    here = path.relative_to(PACKAGE).parts[:-1]  # the file's package, relative to deltaspace
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:  # relative: climb level - 1 packages from the file's own
            base = list(here[: len(here) - (node.level - 1)])
        elif (node.module or "").split(".")[0] == "deltaspace":
            base = []
            node = ast.ImportFrom(module=node.module.partition(".")[2] or None, names=node.names, level=0)
        else:
            continue
        parts = base + (node.module.split(".") if node.module else [])
        found.update([parts[0]] if parts else [alias.name for alias in node.names])
    return found


def import_graph() -> dict[str, set[str]]:
    """{subpackage or top-level module: the others it imports}."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        unit = parts[0] if len(parts) > 1 else path.stem
        graph.setdefault(unit, set()).update(imported_subpackages(path) - {unit})
    return graph


def test_subpackages_import_each_other_without_cycles():
    graph = import_graph()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle between deltaspace subpackages: {exc.args[1]}")
    assert order.index("world") < order.index("models") < order.index("metrics") < order.index("stages")
    # the mini world is the bottom layer: the renderer and its attributes know nothing of models or metrics
    assert graph["world"] <= {"rng", "errors"}, graph["world"]


def test_the_import_graph_sees_a_cycle():
    """The check above can fail: a probe importing models from world (as world.probes once did) is a cycle."""
    graph = {**import_graph(), "world": import_graph()["world"] | {"models"}}
    with pytest.raises(CycleError):
        list(TopologicalSorter(graph).static_order())


def stage_commands(module) -> set[str]:
    return set(re.findall(r'^@stage\("([\w-]+)"\)', module.read_text(), re.M))


def test_each_rule_file_holds_the_rules_of_its_stage_module():
    """rules/<name>.smk runs only the stages defined in stages/<name>.py, and every stage the workflow runs has
    its rule file: a reader finds a rule's code, and a stage's rules, by name."""
    commanded = {}
    for rules in sorted(RULES.glob("*.smk")):
        commands = set(re.findall(r'"deltaspace ([\w-]+) ', rules.read_text()))
        if rules.stem in ("common", "preflight"):  # helpers and the config pre-check: no stage of their own
            assert not commands, rules
            continue
        module = PACKAGE / "stages" / f"{rules.stem}.py"
        assert module.is_file(), f"{rules.name}: no stage module stages/{rules.stem}.py"
        assert commands and commands <= stage_commands(module), (rules.name, commands - stage_commands(module))
        commanded.update(dict.fromkeys(commands, rules.name))
    run_by_workflow = {c for m in (PACKAGE / "stages").glob("*.py") for c in stage_commands(m)}
    # commands for users, run outside the workflow: `deltaspace edit` and `deltaspace check-config`
    assert run_by_workflow - set(commanded) <= {"edit", "check-config"}, run_by_workflow - set(commanded)
