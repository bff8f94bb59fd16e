"""Variant schema strings -> JSON leaf paths and silver types (pure Python)."""

from __future__ import annotations

import pytest

from silver import schema


def test_parse_variant_schema_with_quoted_keys_nested_objects_and_arrays():
    text = ("OBJECT<```x```: BIGINT, a: DOUBLE, b: VARIANT, e: OBJECT<`f g`: BIGINT, `h.i`: ARRAY<BIGINT>>, "
            "`it's \"q\"`: BIGINT, arr: ARRAY<OBJECT<`a,b`: BIGINT>>, d: DECIMAL(4,2), n: VOID>")
    assert schema.leaves(schema.parse_type(text)) == {
        ("`x`",): "BIGINT", ("a",): "DOUBLE", ("b",): "VARIANT", ("e", "f g"): "BIGINT",
        ("e", "h.i"): "ARRAY<BIGINT>", ("it's \"q\"",): "BIGINT", ("arr",): "ARRAY<OBJECT<`a,b`: BIGINT>>",
        ("d",): "DECIMAL(4,2)", ("n",): "VOID"}


def test_a_malformed_schema_string_is_an_error_not_a_guess():
    with pytest.raises(ValueError):
        schema.parse_type("OBJECT<a BIGINT>")


@pytest.mark.parametrize("kind, all_iso, expected", [
    ("BOOLEAN", False, "boolean"), ("BIGINT", False, "bigint"), ("DECIMAL(4,2)", False, "double"),
    ("DECIMAL(18,0)", False, "bigint"), ("DECIMAL(25,0)", False, "string"), ("DOUBLE", False, "double"),
    ("STRING", False, "string"), ("STRING", True, "timestamp"), ("ARRAY<BIGINT>", False, "string"),
    ("VOID", False, None),
])
def test_kinds_map_to_silver_types(kind, all_iso, expected):
    assert schema.silver_type(kind, all_iso) == expected


@pytest.mark.parametrize("types, expected", [
    (["boolean", "bigint"], "bigint"), (["bigint", "double"], "double"), (["double", "string"], "string"),
    (["boolean", "double", None], "double"), (["timestamp"], "timestamp"), (["timestamp", "bigint"], "string"),
    ([None], None),
])
def test_widening_follows_boolean_bigint_double_string(types, expected):
    assert schema.widen(types) == expected
