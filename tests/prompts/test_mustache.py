"""Mustache templates: results checked against langchain-core 1.8.3's for the same input."""

import json
import pickle
from typing import Any

import pytest

from prompts import ChatPromptTemplate, HumanMessage, MissingVariablesError, PromptTemplate


def mustache(template: str) -> PromptTemplate:
    return PromptTemplate.from_template(template, template_format="mustache")


def test_variables_are_escaped_and_triple_braces_or_ampersand_are_raw() -> None:
    prompt = mustache("{{name}} {{{raw}}} {{&amp}}")

    text = prompt.format(name="<b>&\"'", raw="<r>", amp="<a>")

    assert text == "&lt;b&gt;&amp;&quot;' <r> <a>"


def test_sections_repeat_for_lists_enter_dicts_and_skip_false_values() -> None:
    prompt = mustache(
        "{{#items}}[{{.}}]{{/items}}{{#person}}{{name}} is {{age}}{{/person}}"
        "{{#off}}never{{/off}}{{#zero}}never{{/zero}}{{#word}}!{{word}}{{/word}}"
    )

    text = prompt.format(
        items=[1, 2], person={"name": "Al", "age": 3}, off=False, zero=0, word="yes"
    )

    assert text == "[1][2]Al is 3!yes"


def test_list_of_dicts_section_reads_each_item_then_outer_names() -> None:
    prompt = mustache("{{#rows}}{{x}}-{{y}},{{/rows}}")

    assert prompt.format(rows=[{"x": 1}, {"x": 2}], y=0) == "1-0,2-0,"


def test_inverted_sections_render_for_empty_or_false_values_only() -> None:
    prompt = mustache("{{^a}}A{{/a}}{{^b}}B{{/b}}{{^c}}C{{/c}}")

    assert prompt.format(a=[], b=False, c=[1]) == "AB"


def test_dotted_names_walk_dicts_and_lists_and_missing_parts_render_empty() -> None:
    prompt = mustache("{{user.name}}/{{user.tags.0}}/{{user.nope}}/{{user.tags.9}}")

    assert prompt.format(user={"name": "Ann", "tags": ["x"]}) == "Ann/x//"


def test_dotted_names_never_read_attributes_of_other_objects() -> None:
    prompt = mustache("[{{n.real}}][{{n.__class__}}]")

    assert prompt.format(n=3) == "[][]"


def test_none_renders_empty_while_zero_and_false_print() -> None:
    prompt = mustache("{{n}} {{z}} {{f}} [{{none}}]")

    assert prompt.format(n=0, z=False, f=1.5, none=None) == "0 False 1.5 []"


def test_comments_vanish_and_standalone_tags_take_their_line() -> None:
    prompt = mustache("a\n  {{#x}}\nin\n  {{/x}}\n{{! note }}\nb")

    assert prompt.format(x=True) == "a\nin\nb"


def test_tags_sharing_a_line_with_text_keep_the_line() -> None:
    prompt = mustache("a {{#x}}in{{/x}} b\n")

    assert prompt.format(x=True) == "a in b\n"


def test_set_delimiters() -> None:
    prompt = mustache("{{=<% %>=}}<%a%> {{a}}")

    assert prompt.input_variables == ["a"]
    assert prompt.format(a=1) == "1 {{a}}"


def test_input_variables_are_top_level_names_outside_sections_in_order() -> None:
    prompt = mustache("{{b}} {{#a}}{{inner}}{{/a}} {{c.d}} {{^e}}{{/e}} {{{f}}} {{b}} {{.}}")

    assert prompt.input_variables == ["b", "a", "c", "e", "f"]


def test_a_missing_top_level_variable_raises_naming_it() -> None:
    prompt = mustache("Hi {{name}}, {{#items}}{{.}}{{/items}}")

    with pytest.raises(MissingVariablesError) as info:
        prompt.invoke({"name": "x", "itmes": []})

    assert info.value.missing == ["items"]
    assert info.value.unexpected == ["itmes"]
    with pytest.raises(MissingVariablesError, match="'name'"):
        prompt.format(items=[])


def test_input_schema_nests_dotted_names_and_leaves_sections_untyped() -> None:
    prompt = mustache("{{name}} {{person.name}} {{person.address.city}} {{#items}}{{/items}}")

    schema = prompt.get_input_jsonschema()

    assert schema["required"] == ["name", "person", "items"]
    assert schema["properties"]["name"]["type"] == "string"
    assert "type" not in schema["properties"]["items"]
    person = schema["$defs"]["person"]["properties"]
    assert person["name"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert json.dumps(schema["$defs"]["address"]["properties"]["city"]["anyOf"]) == (
        '[{"type": "string"}, {"type": "null"}]'
    )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{#a}}x", "section {{#a}} is never closed"),
        ("{{a", "unclosed tag at line 1"),
        ("x\n{{{a}}", "unclosed tag at line 2"),
        ("{{#a}}x{{/b}}", "does not match the open {{#a}}"),
        ("x{{/b}}", "closing tag {{/b}} was never opened"),
        ("{{>part}}", "prompts have no partials"),
        ("{{ }}", "empty tag"),
        ("{{=<%=}}", "bad delimiter tag"),
    ],
)
def test_malformed_templates_fail_at_build_time_naming_the_problem(
    template: str, problem: str
) -> None:
    with pytest.raises(ValueError, match='"template"') as info:
        mustache(template)

    assert problem in str(info.value)
    assert repr(template) in str(info.value)


def test_a_non_str_template_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r'"template".*int 42'):
        PromptTemplate(42, template_format="mustache")  # type: ignore[arg-type]


def test_chat_prompt_in_mustache_formats_every_message() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You like {{topic}}."), ("human", "{{#qs}}{{.}}? {{/qs}}{keep}")],
        template_format="mustache",
    )

    messages = prompt.format_messages(topic="cats", qs=["why", "how"])

    assert prompt.input_variables == ["topic", "qs"]
    assert messages[1] == HumanMessage("why? how? {keep}")


def test_chat_prompt_schema_types_mustache_objects_and_sections() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("human", "{{a.b}} {{c}} {{#d}}{{/d}}")], template_format="mustache"
    )

    props: dict[str, Any] = prompt.get_input_jsonschema()["properties"]

    assert props["a"] == {"$ref": "#/$defs/a"}
    assert props["c"]["type"] == "string"
    assert "type" not in props["d"]


def test_mustache_partial_fixes_a_variable() -> None:
    prompt = mustache("{{a}}-{{b}}").partial(a="A")

    assert prompt.input_variables == ["b"]
    assert prompt.format(b="B") == "A-B"


def test_mustache_and_multipart_prompts_pickle() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("human", ["{{#a}}{{.}}{{/a}}", {"image_url": "{{u}}"}])], template_format="mustache"
    )

    copy = pickle.loads(pickle.dumps(prompt))

    assert copy.format_messages(a=[1, 2], u="x") == prompt.format_messages(a=[1, 2], u="x")
