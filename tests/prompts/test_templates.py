import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from prompts import ChatPromptTemplate, MissingVariablesError, PromptTemplate, StringPromptValue
from runnables import RunnableLambda

# -- parsing -------------------------------------------------------------------------------------


def test_variables_are_inferred_in_order_of_first_appearance() -> None:
    prompt = PromptTemplate.from_template("{style} text on {topic}; more {style}, {audience}")

    assert prompt.input_variables == ["style", "topic", "audience"]
    assert prompt.template == "{style} text on {topic}; more {style}, {audience}"


def test_constructor_infers_variables_too() -> None:
    assert PromptTemplate("Tell me about {topic}").input_variables == ["topic"]
    assert PromptTemplate(template="no variables").input_variables == []


def test_double_braces_are_literal_braces() -> None:
    prompt = PromptTemplate.from_template('Answer as {{"topic": "{topic}"}} or {{x}}')

    assert prompt.input_variables == ["topic"]
    assert prompt.format(topic="space") == 'Answer as {"topic": "space"} or {x}'


def test_template_without_variables_formats_to_itself() -> None:
    prompt = PromptTemplate.from_template("Say hi {{}}")

    assert prompt.format() == "Say hi {}"
    assert prompt.invoke({}) == StringPromptValue("Say hi {}")


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("About {x.y}", "{x.y}"),
        ("About {x.__class__.__init__.__globals__}", "{x.__class__.__init__.__globals__}"),
        ("About {x[0]}", "{x[0]}"),
        ("About {x[key]}", "{x[key]}"),
        ("About {x!r}", "{x!r}"),
        ("About {x!s}", "{x!s}"),
        ("About {x:>10}", "{x:>10}"),
        ("About {x:{width}}", "{x:{width}}"),
        ("About {}", "{}"),
        ("About {0}", "{0}"),
        ('Return JSON like {"a": 1}', '{"a": 1}'),
    ],
)
def test_fields_other_than_plain_names_are_rejected_at_construction(
    template: str, field: str
) -> None:
    with pytest.raises(ValueError, match='"template"') as info:
        PromptTemplate.from_template(template)

    assert field in str(info.value)
    assert "{{" in str(info.value)  # the hint about literal braces


@pytest.mark.parametrize("template", ["About {topic", "About topic}", "{", "a } b"])
def test_unbalanced_braces_are_rejected(template: str) -> None:
    with pytest.raises(ValueError, match='"template"') as info:
        PromptTemplate(template)

    assert repr(template) in str(info.value)


@pytest.mark.parametrize("template", [42, None, b"About {x}", ["About {x}"]])
def test_non_str_template_is_a_type_error_showing_the_value(template: Any) -> None:
    with pytest.raises(TypeError, match='"template"') as info:
        PromptTemplate(template)

    assert repr(template) in str(info.value)
    with pytest.raises(TypeError, match='"template"'):
        PromptTemplate.from_template(template)


def test_declared_input_variables_must_match_the_template() -> None:
    prompt = PromptTemplate(template="{a} {b}", input_variables=["b", "a"])
    assert prompt.input_variables == ["a", "b"]  # order of appearance, not of declaration

    with pytest.raises(ValueError, match=r"\['a'\].*\['a', 'b'\]"):
        PromptTemplate(template="{a} {b}", input_variables=["a"])
    with pytest.raises(TypeError, match=r""""input_variables".*'ab'"""):
        PromptTemplate(template="{a} {b}", input_variables="ab")


# -- formatting ----------------------------------------------------------------------------------


def test_format_and_invoke() -> None:
    prompt = PromptTemplate.from_template("Write a {style} note on {topic}.")

    assert prompt.format(style="short", topic="space") == "Write a short note on space."
    value = prompt.invoke({"style": "short", "topic": "space"})
    assert value == StringPromptValue("Write a short note on space.")
    assert value.to_string() == "Write a short note on space."
    assert prompt.format_prompt(style="a", topic="b") == StringPromptValue("Write a a note on b.")


def test_values_are_converted_with_str_and_never_reformatted() -> None:
    prompt = PromptTemplate.from_template("{n} items: {items}; raw {raw}")

    text = prompt.format(n=3, items=["a", "b"], raw="{n} {{x}}")

    assert text == "3 items: ['a', 'b']; raw {n} {{x}}"


def test_extra_keys_are_ignored() -> None:
    prompt = PromptTemplate.from_template("About {topic}")

    assert prompt.invoke({"topic": "space", "unused": 1}).text == "About space"


def test_mapping_input_is_accepted() -> None:
    prompt = PromptTemplate.from_template("{a}-{b}")
    data: Mapping[str, int] = MappingProxyType({"a": 1, "b": 2})

    assert prompt.invoke(data).text == "1-2"


@pytest.mark.parametrize("plain", ["space", 42, ["a", "b"], None])
def test_single_variable_prompt_takes_a_plain_input(plain: Any) -> None:
    prompt = PromptTemplate.from_template("Tell me about {topic}")

    assert prompt.invoke(plain) == prompt.invoke({"topic": plain})
    assert prompt.invoke(plain).text == f"Tell me about {plain}"


@pytest.mark.parametrize(
    ("template", "expected"), [("no variables", "[]"), ("{a} {b}", "['a', 'b']")]
)
def test_plain_input_with_zero_or_several_variables_is_a_type_error(
    template: str, expected: str
) -> None:
    prompt = PromptTemplate.from_template(template)

    with pytest.raises(TypeError, match=re.escape(expected)) as info:
        prompt.invoke("space")

    assert "PromptTemplate" in str(info.value)
    assert "'space'" in str(info.value)


def test_missing_variable_names_missing_and_expected() -> None:
    prompt = PromptTemplate.from_template("{topic} in a {style} style")

    with pytest.raises(KeyError) as info:
        prompt.invoke({"style": "plain"})

    assert str(info.value) == "Missing variables ['topic'] for prompt; expected ['topic', 'style']"
    assert isinstance(info.value, MissingVariablesError)
    assert info.value.missing == ["topic"]
    assert info.value.expected == ["topic", "style"]


def test_missing_variable_error_names_the_unexpected_keys_as_a_hint() -> None:
    prompt = PromptTemplate.from_template("{topic} in a {style} style")

    with pytest.raises(MissingVariablesError) as info:
        prompt.invoke({"topic": "space", "stlye": "plain"})

    assert str(info.value) == (
        "Missing variables ['style'] for prompt; expected ['topic', 'style']; "
        "got unexpected 'stlye'"
    )
    assert info.value.unexpected == ["stlye"]


def test_unexpected_keys_are_not_an_error_when_nothing_is_missing() -> None:
    prompt = PromptTemplate.from_template("{topic}")

    assert prompt.format(topic="space", extra=1) == "space"


def test_a_partial_variable_given_again_is_not_unexpected() -> None:
    prompt = PromptTemplate.from_template("{style} note on {topic}").partial(style="short")

    with pytest.raises(MissingVariablesError) as info:
        prompt.invoke({"style": "long", "topci": "space"})

    assert info.value.missing == ["topic"]
    assert info.value.unexpected == ["topci"]


def test_many_unexpected_keys_are_shown_up_to_ten() -> None:
    prompt = PromptTemplate.from_template("{a}")

    with pytest.raises(MissingVariablesError) as info:
        prompt.format(**{f"k{i}": i for i in range(12)})

    assert str(info.value).endswith(
        "got unexpected 'k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9' and 2 more"
    )
    assert len(info.value.unexpected) == 12


def test_all_missing_variables_are_named_in_template_order() -> None:
    prompt = PromptTemplate.from_template("{c} {a} {b}")

    with pytest.raises(MissingVariablesError, match=re.escape("['c', 'b']")):
        prompt.format(a=1)


def test_missing_variables_error_pickles() -> None:
    error = MissingVariablesError(["a"], ["a", "b"], ["c"])

    restored = pickle.loads(pickle.dumps(error))

    assert isinstance(restored, MissingVariablesError)
    assert isinstance(restored, KeyError)
    assert str(restored) == str(error)
    assert restored.missing == ["a"]
    assert restored.unexpected == ["c"]


def test_key_error_from_a_value_is_not_reported_as_a_missing_variable() -> None:
    class Broken:
        def __str__(self) -> str:
            raise KeyError("inside __str__")

    prompt = PromptTemplate.from_template("{x}")

    with pytest.raises(KeyError, match="inside __str__") as info:
        prompt.format(x=Broken())

    assert not isinstance(info.value, MissingVariablesError)


# -- partial -------------------------------------------------------------------------------------


def test_partial_fills_variables_in_a_new_template() -> None:
    prompt = PromptTemplate.from_template("{style} note on {topic}")

    short = prompt.partial(style="short")

    assert short.input_variables == ["topic"]
    assert short.partial_variables == {"style": "short"}
    assert short.format(topic="space") == "short note on space"
    assert short.invoke("space").text == "short note on space"  # now one variable: plain input
    assert prompt.input_variables == ["style", "topic"]  # the original is unchanged
    assert prompt.partial_variables == {}
    with pytest.raises(MissingVariablesError):
        prompt.format(topic="space")


def test_partial_callables_are_called_at_each_format() -> None:
    calls: list[int] = []

    def today() -> str:
        calls.append(1)
        return f"day {len(calls)}"

    prompt = PromptTemplate.from_template("{date}: {topic}").partial(date=today)

    assert calls == []
    assert prompt.format(topic="a") == "day 1: a"
    assert prompt.invoke("b").text == "day 2: b"


def test_caller_values_override_partials_without_calling_them() -> None:
    def fail() -> str:
        raise AssertionError("should not be called")

    prompt = PromptTemplate.from_template("{date}: {topic}").partial(date=fail)

    assert prompt.format(date="today", topic="a") == "today: a"


def test_partial_variables_at_construction_and_chained_partials() -> None:
    prompt = PromptTemplate("{a}{b}{c}", partial_variables={"a": 1})
    both = prompt.partial(b=2)

    assert prompt.input_variables == ["b", "c"]
    assert both.input_variables == ["c"]
    assert both.format(c=3) == "123"
    assert PromptTemplate.from_template("{a}{b}", partial_variables={"b": 2}).format(a=1) == "12"


def test_partial_of_an_unknown_variable_is_a_value_error() -> None:
    prompt = PromptTemplate.from_template("{topic}")

    with pytest.raises(ValueError, match=r"\['tpoic'\].*\['topic'\]"):
        prompt.partial(tpoic="x")
    with pytest.raises(ValueError, match=r'"partial_variables".*\[\'x\'\]'):
        PromptTemplate("{topic}", partial_variables={"x": 1})
    with pytest.raises(TypeError, match=r'"partial_variables".*\[\'topic\'\]'):
        PromptTemplate("{topic}", partial_variables=["topic"])  # type: ignore[arg-type]


def test_partial_then_missing_names_only_the_input_variables() -> None:
    prompt = PromptTemplate.from_template("{a} {b} {c}").partial(b="B")

    with pytest.raises(MissingVariablesError) as info:
        prompt.format(a=1)

    assert str(info.value) == "Missing variables ['c'] for prompt; expected ['a', 'c']"


# -- as a runnable -------------------------------------------------------------------------------


def test_batch_keeps_order() -> None:
    prompt = PromptTemplate.from_template("About {topic}")

    values = prompt.batch(["a", {"topic": "b"}, "c"])

    assert [v.text for v in values] == ["About a", "About b", "About c"]


def test_batch_return_exceptions_puts_the_missing_variable_error_in_place() -> None:
    prompt = PromptTemplate.from_template("{a} {b}")

    out = prompt.batch([{"a": 1, "b": 2}, {"a": 1}], return_exceptions=True)

    assert out[0] == StringPromptValue("1 2")
    assert isinstance(out[1], MissingVariablesError)


@pytest.mark.anyio
async def test_ainvoke_and_abatch() -> None:
    prompt = PromptTemplate.from_template("About {topic}")

    assert await prompt.ainvoke("space") == StringPromptValue("About space")
    assert await prompt.abatch([{"topic": "a"}, "b"]) == [
        StringPromptValue("About a"),
        StringPromptValue("About b"),
    ]


@pytest.mark.anyio
async def test_astream_yields_the_one_value() -> None:
    prompt = PromptTemplate.from_template("About {topic}")

    chunks = [chunk async for chunk in prompt.astream("space")]

    assert chunks == [StringPromptValue("About space")]


def test_pipes_into_a_model() -> None:
    def fake_model(value: StringPromptValue) -> str:
        return value.to_string().upper()

    chain = PromptTemplate.from_template("about {topic}") | RunnableLambda(fake_model)

    assert chain.invoke("space") == "ABOUT SPACE"
    assert chain.batch(["a", "b"]) == ["ABOUT A", "ABOUT B"]


def test_missing_variable_in_a_chain_keeps_its_type_and_names_the_step() -> None:
    chain = PromptTemplate.from_template("{a} {b}") | (lambda v: v)

    with pytest.raises(MissingVariablesError) as info:
        chain.invoke({"a": 1})

    assert info.value.missing == ["b"]
    assert any("PromptTemplate" in note for note in info.value.__notes__)


def test_template_pickles() -> None:
    prompt = PromptTemplate.from_template("{style} note on {topic}").partial(style="short")

    restored = pickle.loads(pickle.dumps(prompt))

    assert restored.input_variables == ["topic"]
    assert restored.invoke("space") == StringPromptValue("short note on space")


def test_repr_shows_template_and_variables() -> None:
    prompt = PromptTemplate.from_template("About {topic}")

    assert repr(prompt) == "PromptTemplate(template='About {topic}', input_variables=['topic'])"


# -- template formats, files, concatenation ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["mustache ", "F-string", "jinja", None])
def test_an_unknown_template_format_names_the_parameter_and_value(fmt: Any) -> None:
    with pytest.raises(ValueError, match='"template_format"') as info:
        PromptTemplate.from_template("x", template_format=fmt)

    assert repr(fmt) in str(info.value)
    assert "['f-string', 'mustache', 'jinja2']" in str(info.value)
    with pytest.raises(ValueError, match='"template_format"'):
        ChatPromptTemplate.from_messages([("human", "x")], template_format=fmt)


def test_template_format_is_kept_and_shown() -> None:
    prompt = PromptTemplate("{{a}}", template_format="mustache")

    assert prompt.template_format == "mustache"
    assert repr(prompt) == (
        "PromptTemplate(template='{{a}}', input_variables=['a'], template_format='mustache')"
    )
    assert PromptTemplate("{a}").template_format == "f-string"


def test_from_file_reads_the_template_with_the_given_encoding(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_bytes("Café {{dish}}".encode("latin-1"))

    prompt = PromptTemplate.from_file(path, "latin-1", template_format="mustache")

    assert prompt.format(dish="crème") == "Café crème"
    assert PromptTemplate.from_file(str(path), encoding="latin-1").input_variables == []
    with pytest.raises(FileNotFoundError):
        PromptTemplate.from_file(tmp_path / "missing.txt")


def test_adding_prompts_concatenates_templates_and_partials() -> None:
    first = PromptTemplate.from_template("a {x} ", partial_variables={"x": "X"})

    combined = first + PromptTemplate.from_template("b {y}") + " c {z}"

    assert combined.template == "a {x} b {y} c {z}"
    assert combined.input_variables == ["y", "z"]
    assert combined.format(y=1, z=2) == "a X b 1 c 2"


def test_adding_prompts_of_different_formats_or_other_values_fails() -> None:
    with pytest.raises(ValueError, match="same format"):
        PromptTemplate("{a}") + PromptTemplate("{{b}}", template_format="mustache")
    with pytest.raises(TypeError, match="unsupported operand"):
        PromptTemplate("{a}") + 1  # type: ignore[operator]


@pytest.mark.anyio
async def test_async_format_forms() -> None:
    prompt = PromptTemplate("hi {a}")

    assert await prompt.aformat(a=1) == "hi 1"
    assert await prompt.aformat_prompt(a=1) == StringPromptValue("hi 1")


def test_pretty_repr_shows_variables_in_braces(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = PromptTemplate("hi {a} {b}").partial(b="B")

    assert prompt.pretty_repr() == "hi {a} B"
    prompt.pretty_print()
    assert capsys.readouterr().out == "hi {a} B\n"
