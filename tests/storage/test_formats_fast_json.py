"""The msgspec JSON fast path writes exactly the bytes of the stdlib reference encoding, or steps aside for it."""

from __future__ import annotations

import csv
import datetime
import decimal
import enum
import functools
import io
import json
import random
import sys
import uuid
from collections import OrderedDict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import msgspec
import pyarrow.parquet as pq
import pytest

from uis_provider.storage import fastjson
from uis_provider.storage.formats import json_text, open_record_writer
from uis_provider.testing import UISEmulator

COLUMNS = ("ext_id", "talk_duration", "is_lost", "comment", "amount", "callback", "tags", "records")
NESTED_COLUMNS = ("callback", "tags", "records")

REFERENCE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
REFERENCE_SORTED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode

SURROGATES = range(0xD800, 0xE000)
CODE_POINT_POOLS = (
    range(0x20, 0x7F),
    range(0x00, 0x20),
    range(0x7F, 0xA0),
    range(0x400, 0x460),
    range(0x2000, 0x2030),
    range(0xFFF0, 0x10000),
    range(0x1F600, 0x1F650),
    range(0x10FFF0, 0x110000),
)


class Text(str):
    """A str subclass: the stdlib encodes it as its text, msgspec refuses it."""


class Level(enum.IntEnum):
    LOW = 1


class Bag(dict):
    """A dict subclass: the reference encoding keeps its insertion order, msgspec would sort it."""


def canonical(value: Any) -> Any:
    """Reference nesting rule: exact dicts get sorted keys, exact lists/tuples become lists, the rest stays."""
    if type(value) is dict:
        return {key: canonical(item) for key, item in sorted(value.items())}
    if type(value) in (list, tuple):
        return [canonical(item) for item in value]
    return value


def reference_jsonl(records: list[Any], columns: tuple[str, ...]) -> bytes:
    """The expected file, computed with the stdlib only: columns in order, then extra keys sorted."""
    lines = []
    for record in records:
        row = {name: record.get(name) for name in columns}
        for name in sorted(record.keys() - set(columns)):
            row[name] = record[name]
        lines.append(REFERENCE({name: canonical(value) for name, value in row.items()}) + "\n")
    return "".join(lines).encode("utf-8")


def write(records: list[Any], file_format: str = "jsonl", columns: tuple[str, ...] = COLUMNS) -> bytes:
    buffer = io.BytesIO()
    with open_record_writer(buffer, file_format, columns) as writer:
        for record in records:
            writer.write(record)
    return buffer.getvalue()


@functools.cache
def fast_row_encoder(columns: tuple[str, ...]) -> Callable[[Any], bytes | None]:
    fast = json_text._fast_json
    assert fast is not None
    encode_row = fast.row_encoder(columns)
    assert encode_row is not None
    return encode_row


def fast_accepts(record: dict[Any, Any], columns: tuple[str, ...] = COLUMNS) -> bool:
    """Whether the msgspec path encodes this record itself (so the comparison really exercises msgspec)."""
    return fast_row_encoder(columns)(record) is not None


class Generator:
    """Seeded random records: plain JSON, and plain JSON with one or two values the fast path must hand back."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self) -> str:
        rng = self.rng
        return "".join(chr(rng.choice(rng.choice(CODE_POINT_POOLS))) for _ in range(rng.randrange(0, 12)))

    def integer(self) -> int:
        rng = self.rng
        edge = rng.choice((0, 2**31, 2**53, 2**63, 2**64, 10**40))
        return rng.choice((1, -1)) * (edge + rng.randrange(-3, 4))

    def scalar(self) -> Any:
        rng = self.rng
        kind = rng.choice(("str", "str", "int", "small", "bool", "none"))
        if kind == "str":
            return self.text()
        if kind == "int":
            return self.integer()
        if kind == "small":
            return rng.randrange(-1000, 1000)
        if kind == "bool":
            return rng.random() < 0.5
        return None

    def value(self, depth: int) -> Any:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.4:
            return self.scalar()
        shape = rng.choice(("dict", "dict", "list", "tuple"))
        if shape == "dict":
            return {self.text(): self.value(depth - 1) for _ in range(rng.randrange(0, 5))}
        items = [self.value(depth - 1) for _ in range(rng.randrange(0, 5))]
        return items if shape == "list" else tuple(items)

    def odd(self) -> Any:
        rng = self.rng
        pairs = [(self.text() + str(index), self.value(1)) for index in range(rng.randrange(2, 5))]
        choices: list[Callable[[], Any]] = [
            lambda: rng.choice((1e16, 1e-7, 0.1, 1.0, 123456.789, -2.5e-300, 1.7976931348623157e308, rng.random())),
            lambda: rng.choice((float("nan"), float("inf"), float("-inf"), -0.0)),
            lambda: datetime.datetime(2026, 1, 2, 3, 4, 5, rng.randrange(10**6), tzinfo=datetime.timezone.utc),
            lambda: datetime.date(2026, 1, rng.randrange(1, 29)),
            lambda: decimal.Decimal(rng.choice(("1.50", "-0", "1E+3", "NaN"))),
            lambda: uuid.UUID(int=rng.getrandbits(128)),
            lambda: Text(self.text()),
            lambda: Level.LOW,
            lambda: self.text().encode("utf-8"),
            lambda: frozenset({rng.randrange(5)}),
            lambda: Bag(pairs),
            lambda: OrderedDict(pairs),
            lambda: {Text(key): value for key, value in pairs},
            lambda: {
                rng.choice((index, index + 0.5, bool(index % 2))): value for index, (_, value) in enumerate(pairs)
            },
            lambda: {None: pairs[0][1]},
        ]
        return rng.choice(choices)()

    def inject(self, record: dict[Any, Any]) -> None:
        """Replace one value, at a random depth, with an odd one."""
        rng = self.rng
        container: Any = record
        key: Any = rng.choice(list(record))
        while type(container[key]) in (dict, list) and container[key] and rng.random() < 0.7:
            container = container[key]
            key = rng.choice(list(container) if type(container) is dict else range(len(container)))
        container[key] = self.odd()

    def record(self) -> dict[Any, Any]:
        rng = self.rng
        record: dict[Any, Any] = {}
        for name in rng.sample(COLUMNS, rng.randrange(3, len(COLUMNS) + 1)):
            record[name] = self.value(3 if name in NESTED_COLUMNS else 1)
        extras = rng.choice(("none", "none", "str", "int"))
        if extras == "str":
            for _ in range(rng.randrange(1, 3)):
                record["x_" + self.text()] = self.value(2)
        elif extras == "int":
            record[rng.randrange(100)] = self.value(1)
        if rng.random() < 0.4:
            for _ in range(rng.randrange(1, 3)):
                self.inject(record)
        return record


@pytest.fixture(scope="module")
def generated() -> list[dict[Any, Any]]:
    generator = Generator(seed=20260104)
    return [generator.record() for _ in range(3000)]


def test_msgspec_fast_path_is_active_here() -> None:
    assert fastjson.referents_are_complete()
    assert json_text._fast_json is not None


def test_generated_records_match_the_stdlib_reference_byte_for_byte(generated: list[dict[Any, Any]]) -> None:
    accepted = sum(fast_accepts(record) for record in generated)
    assert 1000 < accepted < len(generated) - 500

    assert write(generated) == reference_jsonl(generated, COLUMNS)


def test_fallback_without_msgspec_gives_the_same_bytes(
    generated: list[dict[Any, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_fast_path = write(generated)
    monkeypatch.setattr(json_text, "_fast_json", None)
    assert write(generated) == with_fast_path == reference_jsonl(generated, COLUMNS)


def test_missing_or_disagreeing_msgspec_disables_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    real = msgspec
    assert fastjson.load_fast_json() is not None
    stand_ins = [
        None,
        SimpleNamespace(json=SimpleNamespace(Encoder=lambda: real.json.Encoder()), defstruct=real.defstruct),
        SimpleNamespace(json=SimpleNamespace(Encoder=lambda order: real.json.Encoder()), defstruct=real.defstruct),
    ]
    for stand_in in stand_ins:
        monkeypatch.setitem(sys.modules, "msgspec", stand_in)
        assert fastjson.load_fast_json() is None


def test_every_code_point_encodes_like_the_stdlib() -> None:
    columns = ("text",)
    for start in range(0, 0x110000, 0x2000):
        chunk = "".join(chr(code) for code in range(start, start + 0x2000) if code not in SURROGATES)
        records = [{"text": chunk}, {"text": None, "x": {chunk: [chunk]}}]
        assert all(fast_accepts(record, columns) for record in records)
        assert write(records, columns=columns) == reference_jsonl(records, columns)


@pytest.mark.parametrize("use_fast_path", [True, False])
def test_lone_surrogates_fail_as_the_stdlib_encoding_does(use_fast_path: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_fast_path:
        monkeypatch.setattr(json_text, "_fast_json", None)
    for code in SURROGATES:
        record = {"text": "a" + chr(code) + "b"}
        if use_fast_path:
            assert not fast_accepts(record, ("text",))
        with pytest.raises(UnicodeEncodeError):
            write([record], columns=("text",))
        with pytest.raises(UnicodeEncodeError):
            REFERENCE(record).encode("utf-8")


def test_emulator_records_take_the_fast_path_and_match() -> None:
    records = UISEmulator(calls=200).records()
    columns = tuple(records[0])
    assert all(fast_accepts(record, columns) for record in records)
    assert write(records, columns=columns) == reference_jsonl(records, columns)


def test_columns_msgspec_cannot_name_fall_back() -> None:
    columns = ('say "hi"', "back\\slash", "tab\t", "\u2028", "имя", "\U0001f600")
    fast = json_text._fast_json
    assert fast is not None
    assert fast.row_encoder(columns) is None
    records = [{name: {"b": 1, "a": [2]} for name in columns}, {"имя": "x", "zz": 1}]
    assert write(records, columns=columns) == reference_jsonl(records, columns)


def test_deep_and_cyclic_values_behave_as_the_stdlib(monkeypatch: pytest.MonkeyPatch) -> None:
    deep: Any = "bottom"
    for _ in range(200):
        deep = {"k": [deep]}
    record = {"ext_id": "deep", "callback": deep}
    assert not fast_accepts(record)
    assert write([record]) == reference_jsonl([record], COLUMNS)

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    errors = []
    for fast in (json_text._fast_json, None):
        monkeypatch.setattr(json_text, "_fast_json", fast)
        with pytest.raises((RecursionError, ValueError)) as info:
            write([{"ext_id": "cycle", "tags": cyclic}])
        errors.append(info.type)
    assert errors[0] is errors[1]


@pytest.mark.parametrize("use_fast_path", [True, False])
def test_unsortable_keys_fail_as_before(use_fast_path: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_fast_path:
        monkeypatch.setattr(json_text, "_fast_json", None)
    with pytest.raises(TypeError):
        write([{"ext_id": "mixed", "callback": {1: "one", "a": "letter"}}])
    with pytest.raises(TypeError):
        write([{"ext_id": "mixed", 1: "one", "x": "letter"}])


def test_csv_and_parquet_nested_cells_match_the_sorted_stdlib_encoding(generated: list[dict[Any, Any]]) -> None:
    records = [
        {name: value for name, value in record.items() if name in NESTED_COLUMNS}
        for record in generated
        if all(type(record.get(name)) in (dict, list, tuple, type(None)) for name in NESTED_COLUMNS)
    ]
    cells = [record[name] for record in records for name in NESTED_COLUMNS if record.get(name) is not None]
    fast = json_text._fast_json
    assert fast is not None
    accepted = sum(fast.sorted_json(cell) is not None for cell in cells)
    assert 500 < accepted < len(cells) - 100

    expected = [
        ["" if record.get(name) is None else REFERENCE_SORTED(record[name]) for name in NESTED_COLUMNS]
        for record in records
    ]
    rows = list(csv.reader(io.StringIO(write(records, "csv", NESTED_COLUMNS).decode("utf-8"), newline="")))
    assert rows[0] == list(NESTED_COLUMNS)
    assert rows[1:] == expected

    table = pq.read_table(io.BytesIO(write(records, "parquet", NESTED_COLUMNS)))
    assert [[cell or "" for cell in row.values()] for row in table.to_pylist()] == expected
