"""What makes an event provable: canonical bytes that do not depend on how DynamoDB happens to render the item, a
content hash blind to the key (to tell a swap from an edit), and a MAC that no other key reproduces."""

from __future__ import annotations

from handlers.models.integrity import MAC_ATTRIBUTE, canonical, content_hash, event_hash, event_mac, mac_matches

ITEM = {
    "taskId": {"S": "t1"},
    "sk": {"S": "0000#00000#000"},
    "type": {"S": "RECEIVED"},
    "attempt": {"N": "1.50"},
    "tags": {"SS": ["b", "a"]},
    "payload": {"M": {"z": {"N": "10"}, "a": {"L": [{"S": "x"}, {"N": "2.0"}]}}},
}


def test_the_canonical_form_ignores_attribute_order_and_number_rendering() -> None:
    reordered = {name: ITEM[name] for name in reversed(list(ITEM))}
    rendered = ITEM | {"attempt": {"N": "1.5"}, "tags": {"SS": ["a", "b"]}}
    rendered |= {"payload": {"M": {"a": {"L": [{"S": "x"}, {"N": "2"}]}, "z": {"N": "1E+1"}}}}

    assert canonical(reordered) == canonical(ITEM) == canonical(rendered)
    assert event_hash(rendered) == event_hash(ITEM)


def test_any_change_of_value_type_or_list_order_changes_the_hash() -> None:
    for changed in (
        ITEM | {"type": {"S": "SUCCEEDED"}},
        ITEM | {"attempt": {"S": "1.5"}},  # a string is not a number
        ITEM | {"payload": {"M": {"z": {"N": "10"}, "a": {"L": [{"N": "2.0"}, {"S": "x"}]}}}},
        ITEM | {"extra": {"BOOL": True}},
        {name: value for name, value in ITEM.items() if name != "tags"},
    ):
        assert event_hash(changed) != event_hash(ITEM)


def test_the_content_hash_leaves_the_key_out_and_the_mac_is_not_hashed() -> None:
    moved = ITEM | {"sk": {"S": "0000#00001#000"}}

    assert content_hash(moved) == content_hash(ITEM)
    assert event_hash(moved) != event_hash(ITEM)
    assert event_hash(ITEM | {MAC_ATTRIBUTE: {"S": "anything"}}) == event_hash(ITEM)


def test_a_mac_matches_its_key_and_item_only() -> None:
    key, other = b"k" * 32, b"o" * 32
    signed = ITEM | {MAC_ATTRIBUTE: {"S": event_mac(key, ITEM)}}

    assert mac_matches(key, signed)
    assert not mac_matches(other, signed)
    assert not mac_matches(key, signed | {"sk": {"S": "0000#00001#000"}})  # a MAC copied to another key
    assert not mac_matches(key, ITEM)  # none at all
