"""Column and table naming rules (pure Python)."""

from __future__ import annotations

import re

import pytest

from lakehouse import naming
from silver.layout import OVERFLOW, TableLayout, plan_columns


@pytest.mark.parametrize("key, expected", [
    ("userId", "user_id"),
    ("Page URL", "page_url"),
    ("HTMLParser", "html_parser"),
    ("a.b c", "a_b_c"),
    ("Über Größe", "über_größe"),
    ('"; drop table users; --', "___drop_table_users____"),
    ("", "_"),
])
def test_snake_case(key, expected):
    assert naming.snake(key) == expected


@pytest.mark.parametrize("path, expected", [
    (("1st",), "_1st"),
    (("select",), "_select"),
    (("user",), "_user"),
    (("page", "URL"), "page_url"),
])
def test_leading_digits_and_reserved_words_get_a_prefix(path, expected):
    assert naming.column_name(path) == expected


def test_long_names_are_cut_to_127_bytes_with_a_hash_that_tells_them_apart():
    first, second = "x" * 300, "x" * 299 + "y"
    a, b = naming.column_name((first,)), naming.column_name((second,))
    assert len(a.encode()) == 127 and len(b.encode()) == 127
    assert a != b and re.fullmatch(r"x+_[0-9a-f]{8}", a)
    multibyte = naming.column_name(("é" * 100,))  # 200 bytes
    assert len(multibyte.encode("utf-8")) <= 127
    multibyte.encode("utf-8").decode("utf-8")  # cut on a character boundary


def test_colliding_keys_never_share_a_column_whatever_the_order():
    candidates = [(("userId",), "user_id", "userId"), (("user_id",), "user_id", "user_id"),
                  (("Price",), "price", "Price"), (("price",), "price", "price")]
    names = naming.allocate(candidates, set())
    assert names[("user_id",)] == "user_id" and names[("price",)] == "price"
    assert re.fullmatch(r"user_id_[0-9a-f]{8}", names[("userId",)])
    assert re.fullmatch(r"price_[0-9a-f]{8}", names[("Price",)])
    assert naming.allocate(list(reversed(candidates)), set()) == names


def test_event_tables_named_like_a_built_in_table_get_a_prefix():
    assert naming.table_name("Order Completed") == "order_completed"
    assert naming.table_name("Users", {"users", "tracks"}) == "_users"


def test_properties_named_like_built_in_columns_are_kept_under_a_prefix():
    layout = TableLayout("order_completed", "event")
    added = plan_columns(layout, {("properties", ("event",)): "string", ("properties", ("timestamp",)): "timestamp",
                                  ("properties", ("userId",)): "string", ("properties", ("id",)): "bigint",
                                  ("context", ("ip",)): "string"}, max_columns=1000)
    assert {c.path: c.column for c in added} == {
        ("event",): "property_event", ("timestamp",): "property_timestamp", ("userId",): "property_user_id",
        ("id",): "property_id", ("ip",): "context_ip"}


def test_a_property_spelled_like_a_context_column_does_not_take_it_over():
    layout = TableLayout("t", "event")
    added = plan_columns(layout, {("context", ("ip",)): "string", ("properties", ("context_ip",)): "string"}, 1000)
    names = {(c.section, c.path): c.column for c in added}
    assert names[("context", ("ip",))] == "context_ip"
    assert names[("properties", ("context_ip",))].startswith("context_ip_")


def test_paths_past_the_column_budget_go_to_the_overflow_column_and_existing_ones_stay():
    layout = TableLayout("wide", "event")
    builtins = layout.width()
    first = plan_columns(layout, {("properties", (f"p{i:03}",)): "bigint" for i in range(10)}, max_columns=builtins + 12)
    assert [c.column for c in first] == [f"p{i:03}" for i in range(10)]
    second = plan_columns(layout, {("properties", (f"p{i:03}",)): "string" for i in range(15)}, max_columns=builtins + 12)
    assert [(c.column, c.type) for c in second] == [("p010", "string"), ("p011", "string")] + [(OVERFLOW, "string")] * 3
    assert [c.type for c in layout.columns[:10]] == ["bigint"] * 10  # established types never change
