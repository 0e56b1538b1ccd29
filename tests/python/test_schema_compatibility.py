"""Compatibility verdicts checked against independent ones: for Avro, Apache Avro's own
compatibility checker (the `avro` package) decides every ordered pair of a corpus of schemas, and
the registry must agree for BACKWARD and FORWARD; for JSON Schema and Protobuf, pairs whose
verdicts follow Confluent's documented rules. The registry is asked through its REST API."""

import itertools
import json
import uuid

import avro.compatibility
import avro.schema
import pytest

from test_schema_registry import http, registry  # noqa: F401  (the module-scoped broker)


def rec(*fields, name="R", **extra):
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields), **extra}


def f(name, t, **kw):
    return {"name": name, "type": t, **kw}


ENUM2 = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
ENUM3 = {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}
ENUM2D = {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "A"}

# Families of schemas: every ordered pair within a family is checked.
FAMILIES = {
    "record-fields": [
        rec(f("id", "string")),
        rec(f("id", "string"), f("n", "int")),
        rec(f("id", "string"), f("n", "int", default=0)),
        rec(f("id", "string"), f("n", "long", default=0)),
        rec(f("id", "string"), f("n", ["null", "int"], default=None)),
        rec(f("id", "string"), f("n", "string", default="")),
        rec(f("n", "int")),
        rec(f("id", "bytes")),
        rec(f("id", "string"), f("m", "double", default=1.5)),
        rec(f("id", "string", aliases=["ident"]), f("n", "int", default=0)),
    ],
    "primitives": ['"int"', '"long"', '"float"', '"double"', '"string"', '"bytes"', '"boolean"', '"null"'],
    "unions": [
        ["null", "string"],
        ["string", "null"],
        '"string"',
        ["null", "string", "int"],
        ["int", "long"],
        '"long"',
        ["null", "long"],
    ],
    "enums": [rec(f("e", ENUM2)), rec(f("e", ENUM3)), rec(f("e", ENUM2D)),
              rec(f("e", {"type": "enum", "name": "E", "symbols": ["B", "A"]}))],
    "collections": [
        {"type": "array", "items": "int"},
        {"type": "array", "items": "long"},
        {"type": "array", "items": "string"},
        {"type": "map", "values": "int"},
        {"type": "map", "values": "long"},
        {"type": "map", "values": ["null", "int"]},
    ],
    "named": [
        rec(f("x", "int")),
        rec(f("x", "int"), name="S"),
        rec(f("x", "int"), name="S", aliases=["t.R"]),
        {"type": "fixed", "name": "F", "size": 4},
        {"type": "fixed", "name": "F", "size": 8},
        rec(f("inner", rec(f("a", "int"), name="In"))),
        rec(f("inner", rec(f("a", "int"), f("b", "int", default=1), name="In"))),
        rec(f("inner", rec(f("a", "long"), name="In"))),
        rec(f("next", ["null", "t.R"], default=None), f("v", "int")),
        rec(f("next", ["null", "t.R"], default=None), f("v", "long")),
    ],
}


def text(s):
    return s if isinstance(s, str) else json.dumps(s)


def avro_verdict(reader, writer):
    r, w = avro.schema.parse(text(reader)), avro.schema.parse(text(writer))
    result = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(r, w)
    return result.compatibility == avro.compatibility.SchemaCompatibilityType.compatible


def registry_verdict(url, level, old, new, schema_type="AVRO"):
    subject = f"pair-{uuid.uuid4().hex[:10]}"
    assert http("PUT", f"{url}/config/{subject}", {"compatibility": "NONE"})[0] == 200
    status, body = http("POST", f"{url}/subjects/{subject}/versions", {"schema": text(old), "schemaType": schema_type})
    assert status == 200, body
    assert http("PUT", f"{url}/config/{subject}", {"compatibility": level})[0] == 200
    status, body = http("POST", f"{url}/compatibility/subjects/{subject}/versions/latest?verbose=true",
                        {"schema": text(new), "schemaType": schema_type})
    assert status == 200, body
    return body["is_compatible"], body.get("messages", [])


def avro_pairs():
    for family, schemas in FAMILIES.items():
        for old, new in itertools.permutations(schemas, 2):
            yield family, old, new


def test_given_avro_pairs_when_checking_should_agree_with_apache_avros_checker(registry):
    url = registry["url"]
    checked, disagreements = 0, []
    for family, old, new in avro_pairs():
        for level, reader, writer in (("BACKWARD", new, old), ("FORWARD", old, new)):
            expected = avro_verdict(reader, writer)
            got, messages = registry_verdict(url, level, old, new)
            checked += 1
            if got != expected:
                disagreements.append(f"{family} {level}: old={text(old)} new={text(new)} avro={expected} "
                                     f"registry={got} {messages}")
    print(f"{checked} Avro verdicts compared with Apache Avro's checker")
    assert checked >= 200
    assert not disagreements, "\n".join(disagreements)


# JSON Schema: (old, new, BACKWARD verdict) per Confluent's documented JSON Schema rules.
OPEN = {"type": "object", "properties": {"a": {"type": "string"}}}
CLOSED = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
JSON_PAIRS = [
    (OPEN, OPEN, True),
    (OPEN, {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}, False),
    (CLOSED, {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
              "additionalProperties": False}, True),
    (CLOSED, {"type": "object", "properties": {}, "additionalProperties": False}, False),
    (OPEN, {"type": "object", "properties": {}}, True),
    (OPEN, CLOSED, False),
    (CLOSED, OPEN, True),
    ({"type": "integer"}, {"type": "number"}, True),
    ({"type": "number"}, {"type": "integer"}, False),
    ({"type": "string"}, {"type": ["string", "null"]}, True),
    ({"type": ["string", "null"]}, {"type": "string"}, False),
    ({"type": "string"}, {"type": "integer"}, False),
    (OPEN, {**OPEN, "required": ["a"]}, False),
    ({**OPEN, "required": ["a"]}, OPEN, True),
    ({"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 10}, True),
    ({"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 5}, False),
    ({"type": "string"}, {"type": "string", "maxLength": 5}, False),
    ({"type": "string", "minLength": 2}, {"type": "string", "minLength": 1}, True),
    ({"type": "string", "minLength": 1}, {"type": "string", "minLength": 2}, False),
    ({"type": "number", "maximum": 10}, {"type": "number", "maximum": 20}, True),
    ({"type": "number", "maximum": 20}, {"type": "number", "maximum": 10}, False),
    ({"type": "number", "minimum": 0}, {"type": "number", "minimum": 1}, False),
    ({"type": "string"}, {"type": "string", "pattern": "^a"}, False),
    ({"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, True),
    ({"enum": ["a", "b"]}, {"enum": ["a"]}, False),
    ({"type": "string"}, {"oneOf": [{"type": "string"}, {"type": "integer"}]}, True),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"type": "string"}, False),
    ({"type": "array", "items": {"type": "integer"}}, {"type": "array", "items": {"type": "number"}}, True),
    ({"type": "array", "items": {"type": "number"}}, {"type": "array", "items": {"type": "integer"}}, False),
    ({"type": "array", "items": {"type": "string"}, "maxItems": 3}, {"type": "array", "items": {"type": "string"}}, True),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {"x": {"type": "integer"}}}}},
     {"type": "object", "properties": {"a": {"type": "object", "properties": {"x": {"type": "string"}}}}}, False),
]

# Protobuf: (old, new, BACKWARD verdict) per Confluent's documented Protobuf rules.
P = 'syntax = "proto3"; package t; '
PROTO_PAIRS = [
    (P + "message M { string a = 1; }", P + "message M { string a = 1; int32 b = 2; }", True),
    (P + "message M { string a = 1; int32 b = 2; }", P + "message M { string a = 1; }", True),
    (P + "message M { int32 a = 1; }", P + "message M { int64 a = 1; }", True),
    (P + "message M { int32 a = 1; }", P + "message M { uint32 a = 1; }", True),
    (P + "message M { int32 a = 1; }", P + "message M { bool a = 1; }", True),
    (P + "message M { int32 a = 1; }", P + "message M { sint32 a = 1; }", False),
    (P + "message M { string a = 1; }", P + "message M { bytes a = 1; }", True),
    (P + "message M { string a = 1; }", P + "message M { int32 a = 1; }", False),
    (P + "message M { fixed32 a = 1; }", P + "message M { sfixed32 a = 1; }", True),
    (P + "message M { fixed64 a = 1; }", P + "message M { fixed32 a = 1; }", False),
    (P + "message M { N a = 1; } message N { int32 x = 1; }", P + "message M { string a = 1; } message N { int32 x = 1; }", False),
    (P + "message M { N a = 1; } message N { int32 x = 1; } message O { int32 x = 1; }",
     P + "message M { O a = 1; } message N { int32 x = 1; } message O { int32 x = 1; }", False),
    (P + "message M { string a = 1; } message N { int32 x = 1; }", P + "message M { string a = 1; }", False),
    (P + "message M { string a = 1; }", 'syntax = "proto3"; package u; message M { string a = 1; }', False),
    (P + "message M { string a = 1; int32 b = 2; }", P + "message M { oneof o { string a = 1; int32 b = 2; } }", False),
    (P + "message M { string a = 1; }", P + "message M { oneof o { string a = 1; int32 b = 2; } }", True),
    (P + "message M { string a = 1; }", P + "message M { repeated string a = 1; }", False),
    (P + "message M { string a = 1; }", P + "message M { string renamed = 1; }", True),
    (P + "enum E { A = 0; B = 1; } message M { E e = 1; }", P + "enum E { A = 0; B = 1; C = 2; } message M { E e = 1; }", True),
    (P + "message M { map<string, int32> m = 1; }", P + "message M { map<string, int64> m = 1; }", True),
    ('syntax = "proto2"; package t; message M { optional string a = 1; }',
     'syntax = "proto2"; package t; message M { optional string a = 1; required int32 b = 2; }', False),
    ('syntax = "proto2"; package t; message M { optional string a = 1; required int32 b = 2; }',
     'syntax = "proto2"; package t; message M { optional string a = 1; }', False),
]


@pytest.mark.parametrize("schema_type,pairs", [("JSON", JSON_PAIRS), ("PROTOBUF", PROTO_PAIRS)])
def test_given_documented_pairs_when_checking_backward_should_match_confluents_rules(registry, schema_type, pairs):
    wrong = []
    for old, new, expected in pairs:
        got, messages = registry_verdict(registry["url"], "BACKWARD", old, new, schema_type)
        if got != expected:
            wrong.append(f"old={text(old)} new={text(new)} expected={expected} got={got} {messages}")
    print(f"{len(pairs)} {schema_type} verdicts compared with Confluent's documented rules")
    assert not wrong, "\n".join(wrong)
