"""Jinja2 templates, in jinja2's sandbox; results checked against langchain-core 1.8.3's."""

import pickle
import sys

import pytest

import prompts._jinja
from prompts import (
    AIMessage,
    AIMessagePromptTemplate,
    ChatPromptTemplate,
    MissingVariablesError,
    PromptTemplate,
)


def jinja(template: str) -> PromptTemplate:
    return PromptTemplate.from_template(template, template_format="jinja2")


def test_renders_loops_conditions_and_attribute_lookups() -> None:
    prompt = jinja(
        "{{ a }} {% for i in items %}{{ i }}{% endfor %} {{ b.c }}{% if x %}!{% endif %}"
    )

    assert prompt.format(a=1, items=[1, 2], b={"c": 5}, x=True) == "1 12 5!"


def test_input_variables_are_the_undeclared_names_in_order() -> None:
    prompt = jinja("{{ z }} {% for i in items %}{{ i }}{{ z }}{% endfor %}{% set k = 1 %}{{ k }}")

    assert prompt.input_variables == ["z", "items"]
    assert prompt.get_input_jsonschema()["required"] == ["z", "items"]


def test_a_missing_variable_raises_naming_it() -> None:
    prompt = jinja("{{ a }} {{ b }}")

    with pytest.raises(MissingVariablesError) as info:
        prompt.invoke({"a": 1})

    assert info.value.missing == ["b"]
    assert info.value.expected == ["a", "b"]


def test_the_sandbox_refuses_unsafe_attributes() -> None:
    from jinja2.exceptions import SecurityError

    assert jinja("[{{ a.__class__ }}]").format(a=1) == "[]"
    with pytest.raises(SecurityError, match="__class__"):
        jinja("{{ a.__class__.__mro__ }}").format(a=1)


def test_a_syntax_error_fails_at_build_time_naming_the_template() -> None:
    with pytest.raises(ValueError, match=r'"template".*line 1'):
        jinja("{% if %}")


def test_message_templates_and_chat_prompts_take_jinja2() -> None:
    template = AIMessagePromptTemplate.from_template(
        "{% if x %}yes {{ x }}{% endif %}", template_format="jinja2"
    )
    prompt = ChatPromptTemplate.from_messages(
        [template, ("human", "{{ q | upper }}")], template_format="jinja2"
    )

    assert template.input_variables == ["x"]
    assert template.format(x=3) == AIMessage("yes 3")
    assert prompt.format(x=0, q="why") == "AI: \nHuman: WHY"


def test_dict_parts_refuse_jinja2() -> None:
    with pytest.raises(ValueError, match="jinja2 is not allowed in dict parts"):
        ChatPromptTemplate.from_messages(
            [("human", [{"type": "input_audio", "input_audio": {"data": "{{ d }}"}}])],
            template_format="jinja2",
        )


def test_without_jinja2_installed_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prompts._jinja, "_env", None)
    monkeypatch.setitem(sys.modules, "jinja2.sandbox", None)

    with pytest.raises(ImportError, match=r"runnables\[jinja2\]"):
        jinja("{{ a }}")


def test_jinja2_prompts_pickle() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{{ a }}!")], template_format="jinja2")

    copy = pickle.loads(pickle.dumps(prompt))

    assert copy.format_messages(a=1) == prompt.format_messages(a=1)
