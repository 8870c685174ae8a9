"""Typed step options: what a step's `with:` may hold, and how problems are located."""
from __future__ import annotations

from typing import Any, Literal

import pytest

from automations.engine.expand import expand, mark_templates
from automations.engine.options import OptionError, Options, convert, describe_type, option


class CommandSource(Options):
    command: str = option()


class FileSource(Options):
    file: str = option()


class Example(Options):
    role_arn: str = option(key="roleArn", pattern=r"arn:aws:iam::\d{12}:role/.+")
    duration: int = option(3600, minimum=900, maximum=43200)
    token: CommandSource | FileSource | None = option(None)
    mode: Literal["file", "process"] = option("file")
    tags: dict[str, str] = option(default_factory=dict)
    names: list[str] = option(default_factory=list)
    policy: dict[str, Any] | None = option(None)
    verify: bool = option(False)

    def validate(self) -> None:
        if self.mode == "process" and self.names:
            raise OptionError("names", "names cannot be used with mode: process")


ARN = "arn:aws:iam::123456789012:role/dev"


def test_keys_map_to_fields_and_defaults_fill_the_rest():
    value, problems = convert(Example, {"roleArn": ARN}, load_time=False)
    assert problems == []
    assert value.role_arn == ARN and value.duration == 3600 and value.tags == {}


def test_a_union_of_mappings_picks_the_one_whose_keys_match():
    value, _ = convert(Example, {"roleArn": ARN, "token": {"file": "/t"}}, load_time=False)
    assert value.token == FileSource(file="/t")


def test_a_mapping_matching_no_alternative_is_refused():
    _, problems = convert(Example, {"roleArn": ARN, "token": {"url": "x"}}, load_time=False)
    assert problems[0].path == ("token",)
    assert "expected {command} | {file}" in problems[0].message


def test_unknown_options_point_at_the_key():
    _, problems = convert(Example, {"roleArn": ARN, "roleARN": ARN}, load_time=False)
    assert problems[0].path == ("roleARN",) and problems[0].at_key


def test_every_problem_is_reported_with_its_path():
    _, problems = convert(Example, {"roleArn": "nope", "duration": 60, "names": ["a", 3], "verify": "yes"},
                          load_time=False)
    assert {p.path for p in problems} == {("roleArn",), ("duration",), ("names", 1), ("verify",)}


def test_booleans_are_not_integers():
    _, problems = convert(Example, {"roleArn": ARN, "duration": True}, load_time=False)
    assert problems[0].message == "expected integer, got a boolean"


def test_cross_field_checks_name_their_key():
    _, problems = convert(Example, {"roleArn": ARN, "mode": "process", "names": ["a"]}, load_time=False)
    assert problems[0].path == ("names",)


def test_templated_values_wait_for_run_time_checks():
    data = mark_templates({"roleArn": "${ROLE}", "duration": "${DURATION:-1800}"})
    _, problems = convert(Example, data, load_time=True)
    assert problems == []
    value, problems = convert(Example, expand(data, {"ROLE": ARN}), load_time=False)
    assert problems == [] and value.duration == 1800


def test_an_expanded_value_is_checked_without_echoing_it():
    data = expand(mark_templates({"roleArn": "${ROLE}"}), {"ROLE": "hunter2-secret"})
    _, problems = convert(Example, data, load_time=False)
    assert "hunter2-secret" not in problems[0].message


def test_types_are_described_for_people():
    assert describe_type(list[str]) == "list of string"
    assert describe_type(Literal["file", "process"]) == "file | process"


def test_dollar_dollar_brace_is_a_literal():
    assert expand("cost: $${PRICE}", {}) == "cost: ${PRICE}"


def test_a_default_applies_when_the_variable_is_unset_or_empty():
    assert expand("${A:-x}", {}) == "x"
    assert expand("${A:-x}", {"A": ""}) == "x"
    assert expand("${A}", {"A": ""}) == ""


def test_a_plain_dataclass_works_as_options_too():
    import dataclasses

    @dataclasses.dataclass
    class Legacy:
        name: str = option(help="a name")
        count: int = option(2, minimum=1)

    value, problems = convert(Legacy, {"name": "x"}, load_time=False)
    assert problems == [] and value == Legacy(name="x", count=2)
    _, problems = convert(Legacy, {"count": 0}, load_time=False)
    assert {p.message for p in problems} == {"missing required option 'name'", "0 is out of range: must be at least 1"}


class Limits(Options):
    exactly_one_of = ("command", "steps")

    command: str = option(None)
    steps: list[str] = option(None, min_items=1, pattern=r"[a-z]+")
    timeout: float = option(None, above=0)
    env: dict[str, str] = option(None, key_pattern=r"[A-Z_]+")


def test_above_is_an_exclusive_minimum():
    _, problems = convert(Limits, {"command": "x", "timeout": 0}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [(("timeout",), "0 is out of range: must be more than 0")]
    assert convert(Limits, {"command": "x", "timeout": 0.5}, load_time=False)[1] == []


def test_min_items_refuses_a_shorter_list():
    _, problems = convert(Limits, {"steps": []}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [(("steps",), "expected at least 1 item")]


def test_a_pattern_on_a_list_applies_to_each_item():
    _, problems = convert(Limits, {"steps": ["ok", "NOT OK"]}, load_time=False)
    assert [p.path for p in problems] == [("steps", 1)]


def test_key_pattern_points_at_the_bad_key():
    _, problems = convert(Limits, {"command": "x", "env": {"GOOD": "1", "bad": "2"}}, load_time=False)
    assert [(p.path, p.at_key) for p in problems] == [(("env", "bad"), True)]


def test_exactly_one_of_refuses_both_and_neither():
    for data in ({}, {"command": "x", "steps": ["a"]}):
        _, problems = convert(Limits, data, load_time=False)
        assert [(p.path, p.message) for p in problems] == [((), "needs exactly one of command, steps")]


# Options classes declared inside a test: declaring runs `option()` and `__init_subclass__`
# while the test runs, so a mistake in either fails it (bench/mutation.py can only see code
# that runs during a test, not at import).

def test_a_subclass_has_its_parents_options_and_its_own_in_order():
    from typing import ClassVar

    from automations.engine.options import fields_of

    class Base(Options):
        name: str = option(help="who")
        _private: int = 0
        limit: ClassVar[int] = 3

    class Child(Base):
        size: int = option(10, minimum=1, key="sizeKey")
        tags: dict[str, str] = option(default_factory=dict)

    assert [(f.name, f.key, f.required) for f in fields_of(Child)] == [
        ("name", "name", True), ("size", "sizeKey", False), ("tags", "tags", False)]
    assert [f.help for f in fields_of(Child)] == ["who", "", ""]
    assert Child.limit == 3 and Child._private == 0
    child = Child(name="x")
    assert (child.name, child.size, child.tags) == ("x", 10, {})
    assert repr(child) == "Child(name='x', size=10, tags={})"
    assert Child(name="x", size=2) == Child(name="x", size=2) and Child(name="x") != Child(name="y")
    assert Child(name="x") != Base(name="x")


def test_constructing_options_refuses_a_missing_or_unknown_option():


    class Local(Options):
        name: str = option()
        count: int = option(1)

    with pytest.raises(TypeError, match=r"^Local: missing option 'name'$"):
        Local()
    with pytest.raises(TypeError, match=r"^Local: unknown options \['colour', 'shade'\]$"):
        Local(name="x", shade=1, colour=2)


def test_a_mutable_default_must_be_a_factory():


    for mutable in ([], {}, set()):
        with pytest.raises(TypeError, match="use default_factory for a mutable default"):
            option(mutable)


def test_every_constraint_of_a_class_declared_at_run_time_is_applied():
    from automations.engine.options import fields_of, unexpanded_paths

    class Local(Options):
        name: str = option(pattern=r"[a-z]+", problem="bad name {value!r}")
        size: int = option(5, minimum=1, maximum=9)
        ratio: float = option(1.0, above=0)
        items: list[str] = option(default_factory=list, min_items=1)
        env: dict[str, str] = option(default_factory=dict, key_pattern=r"[A-Z]+")
        even: int = option(2, check=lambda v: None if v % 2 == 0 else f"{v} is odd")
        password: str = option("", secret=True)
        command: str = option("", expand=False)

    _, problems = convert(Local, {"name": "X1", "size": 10, "ratio": 0, "items": [], "env": {"low": "1"},
                                  "even": 3}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [
        (("name",), "'X1' does not match [a-z]+"),
        (("size",), "10 is out of range: must be at least 1 and at most 9"),
        (("ratio",), "0 is out of range: must be more than 0"),
        (("items",), "expected at least 1 item"),
        (("env", "low"), "'low' does not match [A-Z]+"),
        (("even",), "3 is odd"),
    ]
    _, problems = convert(Local, {"name": "ok", "size": 0, "items": ["a"]}, load_time=False)
    assert [p.message for p in problems] == ["0 is out of range: must be at least 1 and at most 9"]
    fields = {f.name: f.metadata for f in fields_of(Local)}
    assert fields["name"]["problem"] == "bad name {value!r}"  # the loader words it so
    assert fields["password"]["secret"] and not fields["name"]["secret"]
    assert unexpanded_paths(Local) == [("command",)]


def test_every_kind_of_type_is_described_for_people():
    assert [describe_type(tp) for tp in (str, int, float, bool, Any, dict[str, int], list[float],
                                         Literal[1, "a", True], str | None, CommandSource | FileSource, bytes)] == [
        "string", "integer", "number", "boolean", "any", "mapping of integer", "list of number",
        "1 | a | True", "string", "{command} | {file}", "bytes"]


def test_an_option_is_named_as_the_user_wrote_its_key():
    from automations.engine.options import option_name

    assert option_name(("secrets", 0, "env")) == "with.secrets[0].env"
    assert option_name(()) == "with" and option_name(("retry",), root="step") == "step.retry"


class Typed(Options):
    count: int = option(1)
    ratio: float = option(1.0)
    verbose: bool = option(False)


@pytest.mark.parametrize(("data", "expected"), [
    ({"count": "${N}"}, ("count", 7)), ({"ratio": "${N}"}, ("ratio", 7.0)), ({"ratio": "${R}"}, ("ratio", 2.5)),
    ({"verbose": "${T}"}, ("verbose", True)), ({"verbose": "${F}"}, ("verbose", False)),
])
def test_an_expanded_number_or_boolean_is_read_from_its_text(data, expected):
    env = {"N": " 7 ", "R": "2.5", "T": "True", "F": "FALSE"}
    value, problems = convert(Typed, expand(mark_templates(data), env), load_time=False)
    assert problems == [] and getattr(value, expected[0]) == expected[1]
    assert type(getattr(value, expected[0])) is type(expected[1])


@pytest.mark.parametrize(("key", "text", "said"), [("count", "7.5", "integer"), ("ratio", "fast", "number"),
                                                   ("verbose", "yes", "boolean"), ("count", "true", "integer")])
def test_an_expanded_value_that_is_not_its_type_is_refused(key, text, said):
    _, problems = convert(Typed, expand(mark_templates({key: "${V}"}), {"V": text}), load_time=False)
    assert [(p.path, p.message) for p in problems] == [((key,), f"expected {said} after expanding ${{...}}")]


def test_a_template_anywhere_in_options_delays_the_cross_option_checks():
    class Nested(Options):
        inner: list[dict[str, str]] = option(default_factory=list)
        token: CommandSource | None = option(None)
        mode: str = option("a")

        def validate(self) -> None:
            if self.mode == "a" and (self.inner or self.token):
                raise OptionError("mode", "mode a takes nothing else")

    for data in ({"inner": [{"k": "${V}"}]}, {"token": {"command": "${V}"}}):
        assert convert(Nested, mark_templates(data), load_time=True)[1] == []
        _, problems = convert(Nested, data, load_time=True)  # no template: checked at once
        assert [p.message for p in problems] == ["mode a takes nothing else"]


def test_a_value_of_the_wrong_shape_is_named_by_its_kind():
    _, problems = convert(Example, {"roleArn": ARN, "token": ["x"], "tags": "a", "names": {"a": 1}, "mode": 3},
                          load_time=False)
    assert sorted(p.message for p in problems) == sorted([
        "expected {command} | {file}, got a list", "expected a mapping, got the string 'a'",
        "expected a list, got a mapping", "expected one of file | process, got 3"])


@pytest.mark.parametrize(("value", "said"), [
    (None, "nothing (null)"), (True, "a boolean"), (1.5, "a number"), ("short", "the string 'short'"),
    ("x" * 41, "a string"), ([1], "a list"), ({"a": 1}, "a mapping"), (b"x", "bytes")])
def test_a_value_of_the_wrong_type_is_named_without_showing_a_long_string(value, said):
    _, problems = convert(Typed, {"count": value}, load_time=False)
    assert [p.message for p in problems] == [f"expected integer, got {said}"]
    _, problems = convert(Typed, {"verbose": 3}, load_time=False)
    assert [p.message for p in problems] == ["expected boolean, got an integer"]


def test_a_union_of_scalars_says_every_alternative_when_none_fits():
    class Either(Options):
        limit: int | bool = option(1)
        choice: CommandSource | list[str] = option(default_factory=list)

    _, problems = convert(Either, {"limit": "x", "choice": {"command": 3}}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [
        (("limit",), "expected integer | boolean, got the string 'x'"),
        (("choice", "command"), "expected string, got an integer")]


class Inner(Options):
    command: str = option(expand=False)
    args: list[str] = option(default_factory=list, argv=True)


class Outer(Options):
    steps: list[Inner] = option(default_factory=list)
    named: dict[str, Inner] = option(default_factory=dict)
    maybe: Inner | None = option(None)
    plain: list[str] = option(default_factory=list)
    script: str = option("", expand=False, argv=True)


def test_options_inside_lists_mappings_and_unions_are_found_by_path():
    from automations.engine.options import argv_paths, matches_path, unexpanded_paths

    assert unexpanded_paths(Outer) == [("steps", "*", "command"), ("named", "*", "command"), ("maybe", "command"),
                                       ("script",)]
    assert argv_paths(Outer) == [("steps", "*", "args"), ("named", "*", "args"), ("maybe", "args"), ("script",)]
    assert matches_path(("steps", "*", "command"), ("steps", 2, "command"))
    assert not matches_path(("steps", "*", "command"), ("named", 2, "command"))
    assert not matches_path(("steps", "*"), ("steps", 2, "command"))


def test_an_option_declared_without_option_is_required_or_takes_its_plain_default():
    from automations.engine.options import fields_of

    class Bare(Options):
        _cache: int
        name: str
        count: int = 5

    assert [(f.name, f.required) for f in fields_of(Bare)] == [("name", True), ("count", False)]
    assert Bare(name="x").count == 5
    value, problems = convert(Bare, {}, load_time=False)
    assert value is None and [p.message for p in problems] == ["missing required option 'name'"]


def test_a_dataclass_as_options_keeps_its_defaults_factories_and_metadata():
    import dataclasses

    @dataclasses.dataclass
    class Legacy:
        name: str
        count: int = 2
        tags: list[str] = dataclasses.field(default_factory=list, metadata={"min_items": 1})
        derived: str = dataclasses.field(default="", init=False)

    from automations.engine.options import fields_of

    assert [(f.name, f.required) for f in fields_of(Legacy)] == [("name", True), ("count", False), ("tags", False)]
    value, problems = convert(Legacy, {"name": "x"}, load_time=False)
    assert problems == [] and (value.count, value.tags) == (2, [])
    _, problems = convert(Legacy, {"name": "x", "tags": []}, load_time=False)
    assert [p.message for p in problems] == ["expected at least 1 item"]


def test_a_cross_option_error_names_its_path():
    assert OptionError("names", "m").path == ("names",) and str(OptionError("names", "m")) == "m"
    assert OptionError(("secrets", 0, "env"), "m").path == ("secrets", 0, "env")


def test_an_expanded_value_is_never_shown_in_a_problem():
    class Choice(Options):
        mode: Literal["a", "b"] = option("a")
        items: list[str] = option(default_factory=list)

    _, problems = convert(Choice, expand(mark_templates({"mode": "${M}", "items": "${M}"}), {"M": "secret-value"}),
                          load_time=False)
    assert sorted(p.message for p in problems) == [
        "expected a list, got the value expanded from ${...}",
        "expected one of a | b, got the value expanded from ${...}"]


def test_a_string_of_forty_characters_is_shown_and_a_longer_one_is_not():
    _, problems = convert(Typed, {"count": "x" * 40}, load_time=False)
    assert problems[0].message == f"expected integer, got the string {'x' * 40!r}"


def test_of_alternatives_the_one_of_the_values_shape_says_what_is_wrong():
    class Either(Options):
        value: list[int] | int = option(0)

    _, problems = convert(Either, {"value": ["x"]}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [(("value", 0), "expected integer, got the string 'x'")]
    _, problems = convert(Either, {"value": "x"}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [(("value",), "expected integer, got the string 'x'")]
    _, problems = convert(Either, {"value": {"a": 1}}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [(("value",), "expected list of integer | integer, got a mapping")]


def test_a_mutable_default_is_refused_in_so_many_words():
    with pytest.raises(TypeError, match=r"^use default_factory for a mutable default$"):
        option([])


def test_each_problem_says_what_kind_of_problem_it_is():
    class Kinds(Options):
        exactly_one_of = ("a", "b")
        a: int = option(None, minimum=1)
        b: str = option(None)
        items: list[str] = option(default_factory=list)
        env: dict[str, str] = option(default_factory=dict, key_pattern=r"[A-Z]+")
        mode: Literal["x", "y"] = option("x")
        count: int = option(0)
        need: str = option()

    _, problems = convert(Kinds, {"a": 0, "b": "z", "items": "no", "env": {"low": "1", 5: "x"}, "mode": "q",
                                  "count": "n", "bogus": 1}, load_time=False)
    assert sorted((str(p.path), p.kind) for p in problems) == sorted((str(path), kind) for path, kind in [
        (("bogus",), "unknown"), ((), "exclusive"), (("a",), "value"), (("items",), "type"),
        (("env", "low"), "key"), (("env", 5), "key"), (("mode",), "value"), (("count",), "type"), ((), "missing")])
    _, problems = convert(Kinds, expand(mark_templates({"a": "${A}", "need": "x"}), {"A": "many"}), load_time=False)
    assert [(p.path, p.kind) for p in problems] == [(("a",), "type")]


class Group(Options):
    size: int = option(1, minimum=1)


class Holder(Options):
    either: int | bool = option(1)
    group: Group | None = option(None)
    sizes: list[int] = option(default_factory=list)


def test_templates_wait_for_run_time_inside_unions_lists_and_option_groups():
    data = mark_templates({"either": "${E}", "group": {"size": "${S}"}, "sizes": ["${N}"]})
    assert convert(Holder, data, load_time=True)[1] == []
    value, problems = convert(Holder, expand(data, {"E": "true", "S": "3", "N": "4"}), load_time=False)
    assert problems == [] and (value.either, value.group.size, value.sizes) == (True, 3, [4])


def test_an_unexpanded_list_is_checked_as_written_at_load_time():
    class Args(Options):
        args: list[str] = option(default_factory=list, expand=False, pattern=r"[a-z]+")

    _, problems = convert(Args, mark_templates({"args": ["ok", "${X}"]}), load_time=True)
    assert [(p.path, p.message) for p in problems] == [(("args", 1), "'${X}' does not match [a-z]+")]


def test_a_list_option_has_its_own_check_and_minimum_length():
    class Lists(Options):
        pair: list[str] = option(default_factory=list, min_items=2)
        unique: list[str] = option(default_factory=list, check=lambda v: None if len(set(v)) == len(v) else "repeated")

    _, problems = convert(Lists, {"pair": ["a"], "unique": ["a", "a"]}, load_time=False)
    assert [(p.path, p.message) for p in problems] == [(("pair",), "expected at least 2 items"),
                                                       (("unique",), "repeated")]


def test_bounds_are_inclusive_and_a_lone_maximum_is_said_alone():
    class Bounded(Options):
        size: int = option(5, minimum=1, maximum=9)
        cap: int = option(0, maximum=9)

    assert convert(Bounded, {"size": 1, "cap": 9}, load_time=False)[1] == []
    assert convert(Bounded, {"size": 9}, load_time=False)[1] == []
    _, problems = convert(Bounded, {"cap": 10}, load_time=False)
    assert [p.message for p in problems] == ["10 is out of range: must be at most 9"]


def test_an_integer_given_for_a_number_becomes_a_float():
    value, _ = convert(Typed, {"ratio": 2}, load_time=False)
    assert value.ratio == 2.0 and type(value.ratio) is float


# Each refusal, whole: its location, its wording, whether it points at the key, and its kind
# (the loader words the engine's keys' problems by kind).

class Shapes(Options):
    names: list[str] = option(None, min_items=2)
    env: dict[str, int] = option(None)
    group: CommandSource = option(None)
    either: CommandSource | FileSource = option(None)
    nested: dict[str, list[int]] = option(None)
    word: str | list[str] = option(None, pattern=r"[a-z]+")


def _problems(cls: type, data: Any, load_time: bool = False) -> list[Any]:
    return convert(cls, data, load_time=load_time)[1]


def test_a_list_too_short_is_a_value_problem():
    from automations.engine.options import OptionProblem
    assert _problems(Shapes, {"names": ["a"]}) == [OptionProblem(("names",), "expected at least 2 items", kind="value")]


def test_a_scalar_for_a_mapping_is_a_type_problem():
    from automations.engine.options import OptionProblem
    assert _problems(Shapes, {"env": 3}) == [OptionProblem(("env",), "expected a mapping, got an integer", kind="type")]


def test_every_key_that_is_not_a_string_is_refused_at_the_key():
    from automations.engine.options import OptionProblem
    assert _problems(Shapes, {"env": {1: 1, 2: 2, "A": 3}}) == [
        OptionProblem(("env", 1), "keys must be strings", at_key=True, kind="key"),
        OptionProblem(("env", 2), "keys must be strings", at_key=True, kind="key")]


def test_a_scalar_for_an_option_group_names_the_group_keys():
    from automations.engine.options import OptionProblem
    assert _problems(Shapes, {"group": "x"}) == [
        OptionProblem(("group",), "expected a mapping {command}, got the string 'x'", kind="type")]


def test_a_group_lists_all_its_keys_when_refused():
    from automations.engine.options import OptionProblem

    class Two(Options):
        command: str = option()
        shell: str = option("bash")

    class Holder(Options):
        Two_ = Two
        group: Two_ = option(None)

    assert _problems(Holder, {"group": []}) == [
        OptionProblem(("group",), "expected a mapping {command, shell}, got a list", kind="type")]


def test_a_value_fitting_no_alternative_is_a_type_problem():
    from automations.engine.options import OptionProblem
    assert _problems(Shapes, {"either": 3}) == [
        OptionProblem(("either",), "expected {command} | {file}, got an integer", kind="type")]


def test_a_cross_field_check_is_a_value_problem():
    from automations.engine.options import OptionProblem
    assert _problems(Example, {"roleArn": ARN, "mode": "process", "names": ["a"]}) == [
        OptionProblem(("names",), "names cannot be used with mode: process", kind="value")]


def test_a_union_alternative_keeps_the_option_constraints():
    from automations.engine.options import OptionProblem
    assert _problems(Shapes, {"word": "ABC"}) == [OptionProblem(("word",), "'ABC' does not match [a-z]+", kind="value")]


def test_an_unknown_key_of_an_options_class_without_options_says_none_known():
    from automations.engine.options import OptionProblem

    class Empty(Options):
        pass

    assert _problems(Empty, {"x": 1}) == [
        OptionProblem(("x",), "unknown option (known: none)", at_key=True, kind="unknown")]


def test_a_problem_is_a_value_problem_unless_said_otherwise():
    from automations.engine.options import OptionProblem
    assert OptionProblem(("a",), "m").kind == "value"


def test_a_problem_taken_below_a_depth_keeps_its_message_key_and_kind():
    from automations.engine.options import OptionProblem
    problem = OptionProblem(("tasks", "t", "x"), "m", at_key=True, kind="unknown")
    assert problem.below(2) == OptionProblem(("x",), "m", at_key=True, kind="unknown")


def test_exactly_one_of_three_is_met_by_one():
    class Three(Options):
        exactly_one_of = ("a", "b", "c")
        a: str = option(None)
        b: str = option(None)
        c: str = option(None)

    assert _problems(Three, {"a": "x"}) == []
    assert [p.message for p in _problems(Three, {"a": "x", "b": "y"})] == ["needs exactly one of a, b, c"]


def test_no_options_given_means_all_defaults():
    value, problems = convert(Shapes, None, load_time=False)
    assert problems == [] and value.names is None


def test_options_with_a_problem_give_no_value():
    assert convert(Shapes, {"env": 3}, load_time=False)[0] is None


def test_a_template_in_a_mapping_value_waits_for_run_time():
    data = mark_templates({"env": {"A": "${N}"}})
    assert _problems(Shapes, data, load_time=True) == []
    assert [p.message for p in _problems(Shapes, data)] == ["expected integer, got the string '${N}'"]


def test_a_template_in_a_list_inside_a_mapping_waits_for_run_time():
    assert _problems(Shapes, mark_templates({"nested": {"a": ["${N}"]}}), load_time=True) == []


def test_the_engine_keys_are_checked_as_written_never_as_templates():
    from automations.engine.options import convert_keys

    class Keys(Options):
        count: int = option(1)

    _, problems = convert_keys(Keys, mark_templates({"count": "${N}"}))
    assert [p.message for p in problems] == ["expected integer, got the string '${N}'"]


def test_the_engine_keys_must_be_a_mapping():
    from automations.engine.options import OptionProblem, convert_keys
    assert convert_keys(CommandSource, [1]) == ({}, [
        OptionProblem((), "expected a mapping {command}, got a list", kind="type")])


def test_the_engine_keys_leave_option_groups_as_written_and_check_the_rest():
    from automations.engine.options import OptionProblem, convert_keys

    class Group(Options):
        command: str = option()

    class Keys(Options):
        G = Group
        one: G | None = option(None)
        many: list[G] = option(default_factory=list)
        named: dict[str, G] = option(default_factory=dict)

    written = {"one": {"x": 1}, "many": [{"y": 2}], "named": {"n": {"z": 3}}}
    assert convert_keys(Keys, written) == (written, [])
    assert convert_keys(Keys, {"many": {}, "named": []})[1] == [
        OptionProblem(("many",), "expected a list, got a mapping", kind="type"),
        OptionProblem(("named",), "expected a mapping, got a list", kind="type")]


def _plain_dataclass_group() -> type:
    """A plain dataclass (no `Options` base) with one option, new at each call: the converter
    caches what it learns of a type, so a class made once at import would be seen only once."""
    import dataclasses

    @dataclasses.dataclass
    class Inner:
        command: str = option()

    return Inner


def test_a_plain_dataclass_nests_as_an_option_group():
    inner_class = _plain_dataclass_group()

    class Outer(Options):
        Inner_ = inner_class
        inner: Inner_ = option(None)

    value, problems = convert(Outer, {"inner": {"command": "ls"}}, load_time=False)
    assert problems == [] and value.inner == inner_class(command="ls")


def test_a_cross_field_check_waits_for_a_template_in_a_nested_dataclass():
    class Outer(Options):
        Inner_ = _plain_dataclass_group()
        inner: Inner_ = option(None)
        strict: bool = option(False)

        def validate(self) -> None:
            if self.strict and self.inner is not None and self.inner.command != "ls":
                raise OptionError("inner", "only ls when strict")

    data = mark_templates({"inner": {"command": "${CMD}"}, "strict": True})
    assert _problems(Outer, data, load_time=True) == []


def test_a_dataclass_field_not_in_init_does_not_hide_the_fields_after_it():
    import dataclasses

    @dataclasses.dataclass
    class Legacy:
        internal: int = dataclasses.field(default=0, init=False)
        name: str = option("x")

    from automations.engine.options import fields_of
    assert [f.key for f in fields_of(Legacy)] == ["name"]


def test_a_class_that_declares_no_options_has_no_fields():
    from automations.engine.options import fields_of
    assert fields_of(object) == []


def test_a_type_without_a_name_is_described_as_written():
    assert describe_type("Later") == "Later"


def test_argv_and_unexpanded_options_are_found_only_where_declared():
    import dataclasses

    from automations.engine.options import argv_paths, unexpanded_paths

    class Shell(Options):
        run: str = option(expand=False)
        args: list[str] = option(default_factory=list, argv=True)
        note: str = option("")

    class Outer(Options):
        S = Shell
        first: str = option("", expand=False)
        second: str = option("", expand=False)
        items: list[S | None] = option(default_factory=list)

    @dataclasses.dataclass
    class Plain:
        name: str = "x"

    assert unexpanded_paths(Outer) == [("first",), ("second",), ("items", "*", "run")]
    assert argv_paths(Outer) == [("items", "*", "args")]
    assert unexpanded_paths(Plain) == [] and argv_paths(Plain) == []


def test_problems_differing_only_in_kind_are_not_equal():
    from automations.engine.options import OptionProblem
    assert OptionProblem(("a",), "m", kind="type") != OptionProblem(("a",), "m", kind="value")


def test_an_annotation_naming_nothing_is_the_plugin_authors_name_error():
    class Typo(Options):
        count: Strr = option(1)  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(NameError, match="Strr"):
        convert(Typo, {"count": 1}, load_time=False)


def test_options_of_a_module_not_in_sys_modules_still_resolve_their_annotations():
    # A plugin file loaded by path need not be registered in sys.modules.
    loaded = type("Loaded", (Options,), {"__module__": "optionsmut_not_imported", "__annotations__": {"count": "int"},
                                         "count": option(1)})
    value, problems = convert(loaded, {"count": 2}, load_time=False)
    assert problems == [] and value.count == 2


def test_the_engine_keys_check_a_choice_of_names():
    from automations.engine.options import convert_keys

    class Keys(Options):
        mode: Literal["optionsmut-fast", "optionsmut-slow"] = option("optionsmut-fast")

    assert convert_keys(Keys, {"mode": "optionsmut-slow"}) == ({"mode": "optionsmut-slow"}, [])
    assert [p.message for p in convert_keys(Keys, {"mode": "x"})[1]] == [
        "expected one of optionsmut-fast | optionsmut-slow, got 'x'"]


def test_an_annotation_is_read_in_the_plugins_module_not_the_engines():
    class Unimported(Options):
        anything: typing.Any = option(None)  # type: ignore[name-defined]  # noqa: F821  (this module has no `typing`)

    with pytest.raises(NameError, match="typing"):
        convert(Unimported, {"anything": 1}, load_time=False)
