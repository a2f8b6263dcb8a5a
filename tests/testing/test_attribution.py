"""Where a communication came from: one draw of every attribution column, deterministic per record."""

from __future__ import annotations

from uis_provider.testing.attribution import COLUMNS, attribution, link_id, money, tags, token, weighted
from uis_provider.testing.data import Entropy
from uis_provider.testing.directory import ATTRIBUTES, SOURCES_BY_ID, TAG_NAMES

TYPES = ("new", "returning", "unknown")
#: Columns a communication not tied to a site visit still has.
UNTRACKED_KEEPS = {"communication_number", "attributes", "sale_date", "sale_cost", "visitor_type"}


def draw(index: int, **kwargs: object) -> dict[str, object]:
    return attribution(Entropy(b"seed", "attribution", index), 1_767_225_600, visitor_types=TYPES, **kwargs)  # type: ignore[arg-type]


def test_the_same_record_draws_the_same_columns_and_others_differ() -> None:
    assert draw(7, tracked=True) == draw(7, tracked=True)
    assert len({repr(draw(index, tracked=True)) for index in range(20)}) == 20
    assert all(list(draw(index, tracked=True)) == list(COLUMNS) for index in range(20)), "every column, in order"


def test_an_untracked_communication_has_no_visitor_or_marketing_columns() -> None:
    for index in range(50):
        row = draw(index, tracked=False)
        assert row["visitor_type"] == "unknown"
        assert row["visitor_custom_properties"] == [] and row["segments"] == []
        assert all(
            row[column] is None
            for column in COLUMNS
            if column not in UNTRACKED_KEEPS | {"visitor_custom_properties", "segments"}
        )
        assert set(row["attributes"]) <= set(ATTRIBUTES)  # type: ignore[arg-type]


def test_a_tracked_communication_names_its_visitor_and_a_known_source() -> None:
    rows = [draw(index, tracked=True) for index in range(200)]
    assert all(row["visitor_type"] in TYPES[:2] and row["site_id"] is not None for row in rows)
    assert all(row["source_id"] in SOURCES_BY_ID for row in rows)
    assert all((row["visits_count"] == 1) == (row["visitor_type"] == "new") for row in rows)
    assert len({row["source_id"] for row in rows}) > 3, "sources are drawn, not fixed"
    fixed = next(iter(SOURCES_BY_ID))
    assert {draw(index, tracked=True, source_id=fixed)["source_id"] for index in range(20)} == {fixed}


def test_the_small_draws_keep_their_shapes() -> None:
    entropy = Entropy(b"seed", "small", 1)
    assert all(0 <= money(entropy, 10, 20) < 20 for _ in range(100))
    assert all(len(token(entropy, 12)) == 12 for _ in range(10))
    assert all(len(link_id(entropy)) == 32 and int(link_id(entropy), 16) >= 0 for _ in range(10))
    picks = [weighted(entropy, (("a", 900), ("b", 100))) for _ in range(2000)]
    assert 1650 < picks.count("a") < 1950
    drawn = [tags(entropy, 0, 1000) for _ in range(50)]
    assert all(1 <= len(found) <= 2 and all(tag["tag_id"] in TAG_NAMES for tag in found) for found in drawn)
    assert all((tag["tag_type"] == "manual") == (tag["tag_user_id"] is not None) for found in drawn for tag in found)
    assert tags(entropy, 0, 0) == []
