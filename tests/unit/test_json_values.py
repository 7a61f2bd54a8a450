"""Parsing client JSON into values every metadata backend can store."""

from __future__ import annotations

from typing import Any

import pytest

from assets_registry.core.errors import InvalidInput, MalformedJSON
from assets_registry.core.json_values import MAX_DEPTH, check_storable, parse_json

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def refusal(data: bytes) -> MalformedJSON:
    with pytest.raises(MalformedJSON) as caught:
        parse_json(data)
    error = caught.value
    assert error.code == "malformed_json"
    assert isinstance(error, InvalidInput)
    assert error.message.endswith(".")
    return error


def nested_lists(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def nested_objects(levels: int) -> bytes:
    return b'{"k":' * (levels - 1) + b"{}" + b"}" * (levels - 1)


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b'  [1, 2.5, true, null, "x"]\n', [1, 2.5, True, None, "x"]),
        (b'"\\ud83d\\ude00"', "\U0001f600"),
        ('"é模型😀"'.encode(), "é模型😀"),
        (b'"\\u0000"', "\x00"),
        (b"0", 0),
        (b"-0.0", -0.0),
        (b"1.5e308", 1.5e308),
        (b'{"z": 1, "a": 2}', {"z": 1, "a": 2}),
    ],
)
def test_valid_json_is_parsed(data: bytes, value: Any) -> None:
    parsed = parse_json(data)
    assert parsed == value
    assert type(parsed) is type(value)


def test_object_key_order_is_kept() -> None:
    assert list(parse_json(b'{"z": 1, "a": 2, "m": 3}')) == ["z", "a", "m"]


@pytest.mark.parametrize("data", [b"", b"   ", b"\n\t\r "])
def test_an_empty_body_is_refused(data: bytes) -> None:
    assert refusal(data).message == "The body is empty; send a JSON document."


@pytest.mark.parametrize(
    "data",
    [b"NaN", b"[NaN]", b'{"a": Infinity}', b"-Infinity", b"[1e999]", b"-1e999", b'{"a": 1e400}'],
)
def test_non_finite_numbers_are_refused(data: bytes) -> None:
    assert refusal(data).message.startswith("The body is not valid JSON: ")


@pytest.mark.parametrize(
    "data",
    [b'"\\ud800"', b'"\\ud800x"', b'["\\udc00"]', b'{"k": "\\udc00 abc"}', b'"\\ude00\\ud83d"'],
)
def test_lone_surrogates_are_refused(data: bytes) -> None:
    assert refusal(data).message.startswith("The body is not valid JSON: ")


@pytest.mark.parametrize("data", [b'"\xff"', b'"\xc3\x28"', b'"\xed\xa0\x80"', b'{"a": "\x80"}'])
def test_invalid_utf8_is_refused(data: bytes) -> None:
    assert refusal(data).message.startswith("The body is not")


@pytest.mark.parametrize("data", [b"{", b'{"a":1,}', b"[1 2]", b"'x'", b"{a: 1}", b"1 2", b"\xef\xbb\xbf{}"])
def test_syntax_errors_are_refused(data: bytes) -> None:
    assert refusal(data).message.startswith("The body is not valid JSON: ")


@pytest.mark.parametrize("nest", [nested_lists, nested_objects])
def test_max_depth_levels_are_accepted(nest: Any) -> None:
    assert MAX_DEPTH == 64
    value = parse_json(nest(64))
    depth = 0
    while value:
        value = value[0] if isinstance(value, list) else value["k"]
        depth += 1
    assert depth == 63  # 64 containers: 63 steps down to the innermost, empty one


@pytest.mark.parametrize("nest", [nested_lists, nested_objects])
def test_one_level_more_is_refused(nest: Any) -> None:
    assert "nests deeper than 64 levels" in refusal(nest(65)).message


@pytest.mark.parametrize("nest", [nested_lists, nested_objects])
def test_very_deep_nesting_is_refused_without_crashing(nest: Any) -> None:
    assert "nests deeper than 64 levels" in refusal(nest(200_000)).message


def test_the_too_deep_message_names_where_and_stays_short() -> None:
    message = refusal(b'{"a": ' + nested_lists(70) + b"}").message
    assert "(at a[0][0]" in message
    assert "..." in message
    assert len(message) < 200


@pytest.mark.parametrize("value", [INT64_MIN, INT64_MAX, 0, -1])
def test_integers_within_64_bits_are_accepted(value: int) -> None:
    assert parse_json(f'{{"a": [{value}]}}'.encode()) == {"a": [value]}


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (str(INT64_MAX + 1).encode(), "the top"),
        (str(INT64_MIN - 1).encode(), "the top"),
        (b'{"a": 9223372036854775808}', "a"),
        (b'{"a": [1, {"b": 18446744073709551616}]}', "a[1].b"),
        (b'{"profiles": [{"asset_metadata": {"n": -100000000000000000000000000000}}]}', "profiles[0].asset_metadata.n"),
    ],
)
def test_integers_beyond_64_bits_are_refused_with_their_path(data: bytes, where: str) -> None:
    assert refusal(data).message == f"The number at {where} does not fit in 64 bits."


def test_large_floats_are_not_integers() -> None:
    assert parse_json(b"[9.3e18]") == [9.3e18]


def test_check_storable_checks_values_built_in_python() -> None:
    check_storable({"a": [1, {"b": INT64_MAX}]})
    with pytest.raises(MalformedJSON, match=r"at a\[0\] does not fit"):
        check_storable({"a": [2**64]})
    deep: Any = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    with pytest.raises(MalformedJSON, match="nests deeper than 64 levels"):
        check_storable(deep)


def test_field_names_with_a_nul_character_are_refused() -> None:
    with pytest.raises(MalformedJSON, match="NUL"):
        parse_json(b'{"asset_metadata": {"a\\u0000b": 1}}')
