"""The pure logic of structured items (structured/): the schema subset, validation,
field changes and values as people read and type them."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import structured
from structured import ABSENT, FieldSpec, SchemaProblem
from structured.values import edit_text

SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["order_id", "amount", "currency"],
    "properties": {
        "order_id": {"type": "string", "title": "Order"},
        "amount": {"type": "number", "minimum": 0, "maximum": 500},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "notify_customer": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 500, "format": "multiline"},
    },
}


def test_the_spec_example_is_in_the_subset() -> None:
    form = structured.parse_schema(SPEC_SCHEMA)
    assert form.keys == ["order_id", "amount", "currency", "notify_customer", "note"]
    assert [spec.label for spec in form.fields][:2] == ["Order", "amount"]
    assert [spec.kind for spec in form.fields] == ["string", "number", "enum", "boolean", "string"]
    assert [spec.required for spec in form.fields] == [True, True, True, False, False]
    output = {"order_id": "8812", "amount": 40.0, "currency": "EUR", "notify_customer": True}
    assert structured.validate_output(output, form) == []


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({**SPEC_SCHEMA, "additionalProperties": False}, "output_schema.additionalProperties"),
        ({**SPEC_SCHEMA, "$defs": {}}, "output_schema.$defs"),
        (
            {"properties": {"a": {"type": "string", "default": "x"}}},
            "output_schema.properties.a.default",
        ),
        (
            {"properties": {"a": {"type": "string", "maximum": 3}}},
            "output_schema.properties.a.maximum",
        ),
        (
            {"properties": {"a": {"type": "number", "maxLength": 3}}},
            "output_schema.properties.a.maxLength",
        ),
        ({"properties": {"a": {"type": "array", "items": {}}}}, "output_schema.properties.a.type"),
        ({"properties": {"a": {"type": "object"}}}, "output_schema.properties.a.type"),
        ({"properties": {"a": {"type": ["string", "null"]}}}, "output_schema.properties.a.type"),
        ({"properties": {"a": {"anyOf": [{"type": "string"}]}}}, "output_schema.properties.a"),
        ({"properties": {"a": {"enum": [1, 2]}}}, "output_schema.properties.a.enum.0"),
        (
            {"properties": {"a": {"type": "string", "format": "ipv4"}}},
            "output_schema.properties.a.format",
        ),
        (
            {"properties": {"a": {"type": "string", "pattern": "("}}},
            "output_schema.properties.a.pattern",
        ),
        ({"properties": {"a": {"type": "string"}}, "required": ["b"]}, "output_schema.required"),
        ({"type": "array", "properties": {"a": {"type": "string"}}}, "output_schema.type"),
        ({"properties": {}}, "output_schema.properties"),
    ],
)
def test_anything_outside_the_subset_is_refused_naming_where(
    schema: dict[str, Any], path: str
) -> None:
    with pytest.raises(SchemaProblem) as refused:
        structured.parse_schema(schema)
    assert refused.value.path == path


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", 600, "must be at most 500"),
        ("amount", -1, "must be at least 0"),
        ("amount", "40", "must be a number"),
        ("amount", True, "must be a number"),
        ("currency", "CHF", "must be one of EUR, USD, GBP"),
        ("notify_customer", 1, "must be true or false"),
        ("note", "x" * 501, "must be at most 500 characters (501 given)"),
        ("order_id", 8812, "must be a string"),
    ],
)
def test_validation_names_the_field_and_says_what_is_wrong(
    field: str, value: Any, message: str
) -> None:
    form = structured.parse_schema(SPEC_SCHEMA)
    output = {"order_id": "8812", "amount": 40.0, "currency": "EUR", field: value}
    assert structured.validate_output(output, form) == [structured.FieldProblem(field, message)]


def test_string_formats_and_patterns_are_checked() -> None:
    def problem(spec: dict[str, Any], value: str) -> str | None:
        form = structured.parse_schema({"properties": {"x": spec}})
        return structured.check_value(form.fields[0], value)

    assert problem({"type": "string", "format": "date"}, "2026-02-30") is not None
    assert problem({"type": "string", "format": "date"}, "2026-02-28") is None
    assert problem({"type": "string", "format": "email"}, "ap@acme.example") is None
    assert problem({"type": "string", "format": "email"}, "ap at acme") is not None
    assert problem({"type": "string", "format": "uri"}, "https://acme.example/x") is None
    assert problem({"type": "string", "pattern": "^[0-9]+$"}, "88a") is not None
    assert problem({"type": "integer"}, 4.5) == "must be a whole number"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("output", "path"),
    [
        ({"customer": {"id": 1}}, "output.customer"),
        ({"lines": [1]}, "output.lines"),
        ({"note": None}, "output.note"),
        ({}, "output"),
    ],
)
def test_an_object_without_schema_must_be_flat(output: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaProblem) as refused:
        structured.implied_schema(output)
    assert refused.value.path == path


scalars = st.one_of(
    st.text(max_size=50),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
)
flat_objects = st.dictionaries(st.text(min_size=1, max_size=20), scalars, min_size=1, max_size=20)


@given(flat_objects)
def test_an_object_validates_against_its_implied_schema(output: dict[str, Any]) -> None:
    form = structured.implied_schema(output)
    assert form.keys == list(output)
    assert structured.validate_output(output, form) == []


@given(flat_objects, flat_objects)
def test_changes_turn_the_old_values_into_the_new(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    changes = structured.field_changes(before, after)
    rebuilt = dict(before)
    for change in changes:
        if change["field"] not in after:
            rebuilt.pop(change["field"])
        else:
            rebuilt[change["field"]] = change["to"]
    assert structured.field_changes(rebuilt, after) == []
    assert structured.field_changes(after, after) == []
    assert all(change["from"] == before.get(change["field"]) for change in changes)


def test_booleans_are_never_numbers_in_changes() -> None:
    assert structured.field_changes({"a": 1}, {"a": True}) == [
        {"field": "a", "from": 1, "to": True}
    ]
    assert structured.field_changes({"a": 4}, {"a": 4.0}) == []


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_prefilled_and_submitted_unchanged_reads_back_exactly(number: float) -> None:
    spec = FieldSpec("amount", "number")
    value, problem = structured.value_from_text(spec, edit_text(number))
    assert problem is None and value == number


@pytest.mark.parametrize(
    ("kind", "typed", "expected"),
    [
        ("integer", "12", 12),
        ("integer", "12.5", None),
        ("number", "12.5", 12.5),
        ("number", "abc", None),
        ("number", "", ABSENT),
        ("string", "", ABSENT),
    ],
)
def test_what_people_type_becomes_the_fields_json_type(
    kind: str, typed: str, expected: Any
) -> None:
    value, problem = structured.value_from_text(FieldSpec("x", kind), typed)  # type: ignore[arg-type]
    if expected is None:
        assert problem is not None
    else:
        assert problem is None and value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "Yes"), (False, "No"), (40.0, "40"), (4.5, "4.5"), (12, "12"), (None, "—"), ("x", "x")],
)
def test_values_as_people_read_them(value: Any, shown: str) -> None:
    assert structured.format_value(value) == shown
