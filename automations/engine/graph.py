"""The task graph: which tasks a run selects (by id or trigger, with their dependencies, in
dependency order) and the dependency cycles the loader refuses."""
from __future__ import annotations

from typing import Any

from automations.errors import FatalError

TRIGGERS = ("postEnvironmentStart", "postDevcontainerStart", "prebuild", "manual")


def find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle once, as [a, b, ..., a], found by depth-first search."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return cycles


def select_tasks(config: Any, task_ids: list[str], trigger: str | None) -> list[str]:
    """The requested tasks (or those `trigger` starts) and everything they depend on, in a
    dependency order."""
    unknown = [t for t in task_ids if t not in config.tasks]
    if unknown:
        raise FatalError(f"unknown task {unknown[0]!r} (tasks: {', '.join(config.tasks) or 'none'})")
    wanted = list(task_ids)
    if trigger is not None:
        if trigger not in TRIGGERS:
            raise FatalError(f"unknown trigger {trigger!r}; expected one of: " + ", ".join(TRIGGERS))
        wanted += [t.id for t in config.tasks.values() if trigger in t.triggered_by]
    order: list[str] = []

    def add(task_id: str) -> None:
        if task_id in order:
            return
        for dependency in config.tasks[task_id].depends_on:
            add(dependency)
        order.append(task_id)

    for task_id in wanted:
        add(task_id)
    return order
