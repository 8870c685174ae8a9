"""The engine's keys (top level, task, step, retry) are declared once, as `Options` classes
(automations.engine.keys): the loader and `automations schema` both read those declarations."""
from __future__ import annotations

import typing

from automations.engine import config, graph, keys
from automations.engine.options import convert_keys
from automations.engine.schema import TEMPLATE, build_schema
from automations.retry import ERROR_CLASSES


def test_the_loader_knows_exactly_the_declared_keys():
    assert config.TOP_KEYS == set(keys.known_keys(keys.FileKeys))
    assert config.TASK_KEYS == set(keys.known_keys(keys.TaskKeys))
    assert config.STEP_KEYS == set(keys.known_keys(keys.StepKeys))


def test_the_schema_has_exactly_the_declared_keys():
    schema = build_schema({})
    assert set(schema["properties"]) == set(keys.known_keys(keys.FileKeys))
    assert set(schema["$defs"]["task"]["properties"]) == set(keys.known_keys(keys.TaskKeys))
    assert set(schema["$defs"]["step"]["properties"]) == set(keys.known_keys(keys.StepKeys))
    retry = schema["$defs"]["step"]["properties"]["retry"]["anyOf"][0]  # or null
    assert set(retry["properties"]) == set(keys.known_keys(keys.StepRetryKeys))


def test_mutually_exclusive_keys_are_stated_in_the_schema():
    schema = build_schema({})
    assert schema["$defs"]["task"]["oneOf"] == [{"required": ["command"]}, {"required": ["steps"]}]
    assert schema["$defs"]["step"]["oneOf"] == [{"required": ["uses"]}, {"required": ["run"]}]


def _schemas(node: object) -> typing.Iterator[object]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _schemas(child)


def test_engine_keys_take_no_templates_in_the_schema():
    # Engine keys are never ${...}-expanded, so the schema offers no template alternative.
    assert TEMPLATE not in list(_schemas(build_schema({})["$defs"]["task"]))
    assert TEMPLATE not in list(_schemas(build_schema({})["$defs"]["step"]))


def test_the_declared_triggers_are_the_graphs_triggers():
    assert typing.get_args(keys.Trigger) == graph.TRIGGERS


def test_the_declared_retry_classes_are_the_retry_error_classes():
    per_class = set(keys.known_keys(keys.StepRetryKeys)) - set(keys.known_keys(keys.RetryKeys))
    assert per_class == set(ERROR_CLASSES)


def test_the_loader_checks_a_task_against_its_declaration_going_on_past_problems():
    values, problems = convert_keys(keys.TaskKeys, {"name": 5, "dependsOn": ["a"], "bogus": 1, "steps": [{"run": "x"}]})

    assert [(p.path, p.kind) for p in problems] == [(("bogus",), "unknown"), (("name",), "type")]
    assert values["dependsOn"] == ["a"] and values["triggeredBy"] == ["manual"] and "name" not in values


def test_steps_nested_in_a_task_are_left_as_written_for_the_loader_to_check_one_by_one():
    values, problems = convert_keys(keys.TaskKeys, {"steps": [{"run": "x", "when": "always"}, 5]})

    assert problems == []
    assert values["steps"] == [{"run": "x", "when": "always"}, 5]


def test_a_number_among_names_is_a_problem_of_kind_not_of_value():
    _, problems = convert_keys(keys.TaskKeys, {"command": "x", "triggeredBy": [1, "onSave"]})

    assert [(p.path, p.kind) for p in problems] == [(("triggeredBy", 0), "type"), (("triggeredBy", 1), "value")]


def test_keys_written_with_nothing_after_them_are_what_the_declarations_allow():
    values, problems = convert_keys(keys.FileKeys, {"tasks": None, "plugins": None})

    assert problems == [] and values == {"tasks": None, "plugins": None}
    assert convert_keys(keys.FileKeys, {})[1][0].kind == "missing"
