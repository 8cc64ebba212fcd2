"""The JSON Schema subset hitl understands, and the implied schema of an object sent
without one (SPEC, "Structured items").

A flat object whose properties are `string` (`maxLength`, `minLength`, `pattern`,
`format: multiline|date|email|uri`), `number`/`integer` (`minimum`, `maximum`),
`boolean`, or an `enum` of strings, each with an optional `title` and `description`;
the object may list `required` properties and have a `title` and `description`.
Anything else is refused, naming the keyword and where it is."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from pydantic import ValidationError as PydanticValidationError

MAX_FIELDS = 200  # fields of one structured output
MAX_KEY_CHARS = 100
MAX_OPTIONS = 100  # values of one enum (a Slack select holds 100 options)

_M = TypeVar("_M", bound=BaseModel)
Kind = Literal["string", "number", "integer", "boolean", "enum"]
StringFormat = Literal["multiline", "date", "email", "uri"]

_COMMON = {"title", "description"}
# The keywords each kind of property may carry.
_KEYWORDS: dict[str, set[str]] = {
    "string": _COMMON | {"type", "maxLength", "minLength", "pattern", "format"},
    "number": _COMMON | {"type", "minimum", "maximum"},
    "integer": _COMMON | {"type", "minimum", "maximum"},
    "boolean": _COMMON | {"type"},
    "enum": _COMMON | {"type", "enum"},
}
_OBJECT_KEYWORDS = _COMMON | {"type", "properties", "required"}


class SchemaProblem(ValueError):
    """What is wrong with a schema or an output's shape, and where (a dotted path)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class FieldSpec:
    """One field of a structured output, as the schema (or the implied schema) says."""

    key: str
    kind: Kind
    title: str | None = None
    description: str | None = None
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: StringFormat | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    options: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """What people see: the schema's title, else the key."""
        return self.title or self.key


@dataclass(frozen=True)
class FormSchema:
    """The fields of a structured output, in the order they are shown."""

    fields: tuple[FieldSpec, ...]
    explicit: bool  # from an `output_schema`, not implied by the output

    def field(self, key: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.key == key), None)

    @property
    def keys(self) -> list[str]:
        return [spec.key for spec in self.fields]


class _Property(BaseModel):
    """A property's keyword values, typed (which keywords are allowed is checked first)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    type: Literal["string", "number", "integer", "boolean"] | None = None
    enum: list[StrictStr] | None = Field(None, min_length=1, max_length=MAX_OPTIONS)
    title: StrictStr | None = Field(None, min_length=1, max_length=200)
    description: StrictStr | None = Field(None, max_length=2000)
    max_length: StrictInt | None = Field(None, alias="maxLength", ge=0)
    min_length: StrictInt | None = Field(None, alias="minLength", ge=0)
    pattern: StrictStr | None = Field(None, max_length=1000)
    format: StringFormat | None = None
    minimum: StrictInt | StrictFloat | None = None
    maximum: StrictInt | StrictFloat | None = None


class _Object(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["object"] = "object"
    title: StrictStr | None = Field(None, max_length=200)
    description: StrictStr | None = Field(None, max_length=2000)
    properties: dict[str, Any] = Field(min_length=1, max_length=MAX_FIELDS)
    required: list[StrictStr] = Field(default_factory=list)


def parse_schema(raw: Any) -> FormSchema:
    """The fields an `output_schema` describes; SchemaProblem names the first thing in it
    outside the subset (`output_schema.properties.tags.items: …`)."""
    where = "output_schema"
    if not isinstance(raw, Mapping):
        raise SchemaProblem(where, "must be a JSON object")
    _only(raw, _OBJECT_KEYWORDS, where)
    top = _typed(_Object, raw, where)
    if top.type != "object":
        raise SchemaProblem(f"{where}.type", 'must be "object"')
    fields = []
    for key, prop in top.properties.items():
        _check_key(key, f"{where}.properties")
        fields.append(_field(key, prop, f"{where}.properties.{key}", key in top.required))
    unknown = [name for name in top.required if name not in top.properties]
    if unknown:
        raise SchemaProblem(f"{where}.required", f"`{unknown[0]}` is not in `properties`")
    return FormSchema(tuple(fields), explicit=True)


def _field(key: str, raw: Any, where: str, required: bool) -> FieldSpec:
    if not isinstance(raw, Mapping):
        raise SchemaProblem(where, "must be a JSON object")
    kind = _kind(raw, where)
    _only(raw, _KEYWORDS[kind], where)
    prop = _typed(_Property, raw, where)
    if kind == "enum" and prop.type not in (None, "string"):
        raise SchemaProblem(f"{where}.type", 'an `enum` must be of strings ("type": "string")')
    if prop.pattern is not None:
        try:
            re.compile(prop.pattern)
        except re.error as error:
            raise SchemaProblem(f"{where}.pattern", f"not a valid pattern ({error})") from None
    for low, high, names in (
        (prop.min_length, prop.max_length, "`minLength` is over `maxLength`"),
        (prop.minimum, prop.maximum, "`minimum` is over `maximum`"),
    ):
        if low is not None and high is not None and low > high:
            raise SchemaProblem(where, names)
    if prop.enum is not None and len(set(prop.enum)) != len(prop.enum):
        raise SchemaProblem(f"{where}.enum", "values must be unique")
    return FieldSpec(
        key=key,
        kind=kind,
        title=prop.title,
        description=prop.description,
        required=required,
        min_length=prop.min_length,
        max_length=prop.max_length,
        pattern=prop.pattern,
        format=prop.format,
        minimum=prop.minimum,
        maximum=prop.maximum,
        options=tuple(prop.enum or ()),
    )


def _kind(raw: Mapping[str, Any], where: str) -> Kind:
    if "enum" in raw:
        return "enum"
    kind = raw.get("type")
    if kind in ("string", "number", "integer", "boolean"):
        return kind
    if kind in ("object", "array"):
        raise SchemaProblem(f"{where}.type", f'"{kind}" is not supported: fields are flat')
    if kind is None:
        raise SchemaProblem(where, "needs a `type` (string, number, integer, boolean) or an `enum`")
    raise SchemaProblem(f"{where}.type", f"{_short(kind)} is not supported")


def _only(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for keyword in raw:
        if keyword not in allowed:
            raise SchemaProblem(
                f"{where}.{_short_key(keyword)}", f"`{_short_key(keyword)}` is not supported"
            )


def _typed(model: type[_M], raw: Mapping[str, Any], where: str) -> _M:
    try:
        return model.model_validate(dict(raw))
    except PydanticValidationError as error:
        first = error.errors(include_input=False)[0]
        path = ".".join(str(part) for part in first["loc"])
        raise SchemaProblem(f"{where}.{path}" if path else where, first["msg"]) from None


def _check_key(key: str, where: str) -> None:
    if not key or len(key) > MAX_KEY_CHARS:
        raise SchemaProblem(where, f"field names must be 1 to {MAX_KEY_CHARS} characters")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _short_key(key: str) -> str:
    return key if len(key) <= 60 else key[:59] + "…"


def implied_schema(output: Mapping[str, Any]) -> FormSchema:
    """The fields of an object sent without a schema, by JSON type: strings (multiline
    when they hold a line break), integers, numbers and booleans. Nested objects, arrays
    and nulls have no field to show them in, so they are refused."""
    check_shape(output)
    fields = []
    for key, value in output.items():
        where = f"output.{key}"
        # A number or a boolean cannot be left out of a tool call it was sent in; a text
        # may be emptied (it stays "", see handlers/structured_modal.py).
        if isinstance(value, bool):
            fields.append(FieldSpec(key, "boolean", required=True))
        elif isinstance(value, int):
            fields.append(FieldSpec(key, "integer", required=True))
        elif isinstance(value, float):
            fields.append(FieldSpec(key, "number", required=True))
        elif isinstance(value, str):
            fields.append(FieldSpec(key, "string", format="multiline" if "\n" in value else None))
        elif value is None:
            raise SchemaProblem(where, "null has no type to show: leave the field out")
        else:
            raise SchemaProblem(where, _nested(value))
    return FormSchema(tuple(fields), explicit=False)


def check_shape(output: Mapping[str, Any]) -> None:
    """What every structured output must be: a flat object of 1 to MAX_FIELDS fields."""
    if not output:
        raise SchemaProblem("output", "must have at least one field")
    if len(output) > MAX_FIELDS:
        raise SchemaProblem("output", f"at most {MAX_FIELDS} fields")
    for key, value in output.items():
        _check_key(key, "output")
        if isinstance(value, dict | list):
            raise SchemaProblem(f"output.{key}", _nested(value))


def _nested(value: Any) -> str:
    if isinstance(value, dict):
        return "nested objects are not supported: fields are flat"
    return "arrays are not supported: fields are flat"


def form_of(output: Mapping[str, Any], schema: Mapping[str, Any] | None) -> FormSchema:
    """The fields of a stored structured output: from its schema, else implied."""
    return parse_schema(schema) if schema is not None else implied_schema(output)


def ordered(form: FormSchema, keys: list[str] | None) -> FormSchema:
    """The form with its fields in `keys`' order (JSONB keeps no key order: the order the
    agent sent is stored beside the schema); fields `keys` does not name come last."""
    if not keys:
        return form
    rank = {key: index for index, key in enumerate(keys)}
    fields = sorted(form.fields, key=lambda spec: rank.get(spec.key, len(rank)))
    return FormSchema(tuple(fields), form.explicit)
