"""Seeded, realistic call data generated lazily: a record exists only while an answer needs it.

The history of uploaded calls is stored as two compact arrays (upload batches and their upload times); every
other field of call ``i`` is drawn from a keyed hash of ``(seed, i)``, so 500 000 calls cost a few megabytes and
any record can be rebuilt identically at any time.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from array import array
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Any

from uis_provider.testing.timefmt import DAY, format_local

UPLOAD_SESSION_BASE = 2_400_000_000
EXT_ID_PREFIX = "ext-"

EMPLOYEES: tuple[tuple[int, str], ...] = (
    (100101, "Иванова Анна Сергеевна"),
    (100102, "Петров Дмитрий Олегович"),
    (100103, "Смирнова Екатерина Андреевна"),
    (100104, "Кузнецов Алексей Игоревич"),
    (100105, "Волкова Мария Павловна"),
    (100106, "Соколов Никита Романович"),
    (100107, "Морозова Ольга Викторовна"),
    (100108, "Новиков Артём Денисович"),
)
TAGS: tuple[tuple[int, str], ...] = (
    (501, "Продажа"),
    (502, "Повторный звонок"),
    (503, "Спам"),
    (504, "Консультация"),
    (505, "VIP"),
    (506, "Жалоба"),
    (507, "Доставка"),
)
CAMPAIGNS: tuple[tuple[int, str], ...] = (
    (101, "Яндекс Директ — поиск"),
    (102, "Яндекс Директ — РСЯ"),
    (103, "Google Ads"),
    (104, "Органический поиск"),
    (105, "Email-рассылка"),
    (106, "Наружная реклама"),
)
SITES: tuple[int, ...] = (25187, 25188, 31002)
SOURCE_IDS: tuple[int, ...] = (11, 12, 13, 14)
COMMENTS: tuple[str, ...] = (
    "Клиент просил перезвонить",
    "Уточнение по заказу",
    "Первичное обращение",
    "Оформлен заказ",
    "Вопрос по доставке",
    "Клиента не устроила цена",
    "Запись на консультацию",
)
ERROR_CODES: tuple[str, ...] = (
    "http_status_download_error",
    "http_status_download_error",
    "connection_download_error",
    "timeout_download_error",
    "decode_error",
    "wav_min_duration_processing_error",
    "wav_channels_processing_error",
    "http_content_type_download_error",
    "max_file_size_download_error",
    "download_error",
    "processing_error",
    "internal_error",
)
CALLBACK_EVENTS: tuple[str, ...] = ("processed", "in_process", "error")
RECORDS_HOST = "https://records.pbx-storage.example.ru"


class Entropy:
    """Deterministic draws for one record from a keyed BLAKE2b hash: cheaper than seeding a PRNG per record."""

    __slots__ = ("_key", "_label", "_round", "_x")

    def __init__(self, key: bytes, label: str, index: int) -> None:
        self._key = key
        self._label = f"{label}:{index}#".encode()
        self._round = 0
        self._x = self._refill()

    def _refill(self) -> int:
        digest = hashlib.blake2b(self._label + str(self._round).encode(), digest_size=64, key=self._key)
        self._round += 1
        return int.from_bytes(digest.digest(), "little")

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``."""
        if self._x < n << 32:
            self._x = self._refill()
        self._x, value = divmod(self._x, n)
        return value

    def chance(self, per_mille: int) -> bool:
        """True with probability ``per_mille`` / 1000."""
        return self.below(1000) < per_mille

    def pick(self, items: tuple[Any, ...]) -> Any:
        """One element of ``items``."""
        return items[self.below(len(items))]


def ext_id_for(index: int) -> str:
    """The generated ``ext_id`` of call ``index``: zero-padded so text order equals creation order."""
    return f"{EXT_ID_PREFIX}{index + 1:010d}"


def index_for_ext_id(ext_id: str) -> int | None:
    """The index a generated ``ext_id`` stands for, or ``None`` for any other text."""
    digits = ext_id[len(EXT_ID_PREFIX) :]
    if not ext_id.startswith(EXT_ID_PREFIX) or len(digits) != 10 or not digits.isdigit():
        return None
    return int(digits) - 1


def spread_moments(rng: random.Random, count: int, start: int, span: int) -> list[int]:
    """``count`` sorted local moments in ``[start, start + span)``, mostly in business hours (08-21)."""
    moments = []
    for _ in range(count):
        moment = start + rng.randrange(span)
        for _retry in range(3):
            hour = (moment % DAY) // 3600
            if 8 <= hour < 21 or rng.random() < 0.25:
                break
            moment = start + rng.randrange(span)
        moments.append(moment)
    moments.sort()
    return moments


@lru_cache(maxsize=4096)
def _request_id(key: bytes, batch: int) -> str:
    entropy = Entropy(key, "batch", batch)
    kind = entropy.below(10)
    if kind < 5:
        return str(uuid.UUID(int=entropy.below(1 << 128), version=4))
    if kind < 8:
        return f"upload-{batch + 1:07d}"
    return str(10_000_000 + entropy.below(90_000_000))


class CallHistory:
    """The generated history of uploaded calls: upload batches on a compact index, records rebuilt on demand."""

    def __init__(self, *, calls: int, seed: int, start: int, days: int) -> None:
        if calls < 0:
            raise ValueError("calls must be >= 0")
        if calls and days <= 0:
            raise ValueError("days must be > 0 when calls are generated")
        self.size = calls
        self.seed = seed
        self.start = start
        self.span = max(days, 0) * DAY
        self.key = hashlib.blake2b(f"uis-emulator:{seed}".encode(), digest_size=32).digest()
        rng = random.Random(seed)
        self.virtual_numbers = tuple(
            [f"7495{rng.randrange(10**7):07d}" for _ in range(6)]
            + [f"7812{rng.randrange(10**7):07d}" for _ in range(3)]
            + [f"7800{rng.randrange(10**7):07d}" for _ in range(2)]
        )
        starts = array("q", [0])
        while starts[-1] < calls:
            roll = rng.random()
            size = rng.randint(1, 5) if roll < 0.35 else rng.randint(6, 30) if roll < 0.8 else 50
            starts.append(min(calls, starts[-1] + size))
        self.batch_starts = starts
        self.batch_times = array("q", spread_moments(rng, len(starts) - 1, start, self.span) if calls else [])
        self._records: dict[int, dict[str, Any]] = {}

    @property
    def batches(self) -> int:
        """Number of historical upload batches (``upload.calls`` requests)."""
        return len(self.batch_times)

    def batch_of(self, index: int) -> int:
        """The upload batch call ``index`` came in."""
        return bisect_right(self.batch_starts, index) - 1

    def upload_secs(self, index: int) -> int:
        """Local upload moment of call ``index``."""
        return self.batch_times[self.batch_of(index)]

    def index_range(self, lo: int, hi: int) -> tuple[int, int]:
        """Indices ``[a, b)`` of the calls whose upload moment lies in ``[lo, hi)`` (by bisection)."""
        first = bisect_left(self.batch_times, lo)
        last = bisect_left(self.batch_times, hi)
        return self.batch_starts[first], self.batch_starts[last]

    def request_id(self, batch: int) -> str:
        """The ``ext_request_id`` shared by one upload batch."""
        return _request_id(self.key, batch)

    def timeline(self, index: int) -> tuple[str, int]:
        """Just the status and local start moment of call ``index`` (what the calls report index needs)."""
        entropy = Entropy(self.key, "call", index)
        status, _dir, _lost, _wait, _talk, start, _finish = self._timeline(entropy, self.upload_secs(index))
        return status, start

    def record(self, index: int) -> dict[str, Any]:
        """The full uploaded-call record ``index`` of the history (all columns, documentation order).

        Generated once and kept (drawing a record costs ~35 us, a page 10 000 of them): the dict is shared, so
        callers must not change it.
        """
        record = self._records.get(index)
        if record is None:
            batch = self.batch_of(index)
            record = self._records[index] = self.generate(index, self.batch_times[batch], self.request_id(batch))
        return record

    def warm(self) -> None:
        """Generate every record now, so the first queries cost what later ones do (for benchmarks)."""
        for index in range(self.size):
            self.record(index)

    @staticmethod
    def _timeline(entropy: Entropy, upload: int) -> tuple[str, str, bool, int, int, int, int]:
        roll = entropy.below(1000)
        # 90 % processed, 7 % error, 2 % cancelled, 1 % not_processed (the English page's "processing not completed")
        status = (
            "processed" if roll < 900 else "error" if roll < 970 else "cancelled" if roll < 990 else "not_processed"
        )
        direction = "in" if entropy.below(10) < 7 else "out"
        is_lost = entropy.chance(120)
        if is_lost:
            wait, talk = 5 + entropy.below(116), 0
        else:
            wait = entropy.below(46)
            talk = 3 + entropy.below(13) if entropy.chance(100) else 16 + entropy.below(1000) ** 2 // 600
        lag = 30 + entropy.below(3600) if entropy.chance(800) else 3600 + entropy.below(2 * DAY)
        finish = upload - lag
        return status, direction, is_lost, wait, talk, finish - wait - talk, finish

    def generate(
        self,
        index: int,
        upload: int,
        request_id: str,
        *,
        status: str | None = None,
        call_session_id: int | None = None,
    ) -> dict[str, Any]:
        """Generate call ``index`` uploaded at local moment ``upload``; ``status`` overrides the drawn one."""
        entropy = Entropy(self.key, "call", index)
        drawn, direction, is_lost, wait, talk, start, finish = self._timeline(entropy, upload)
        status = status or drawn
        client = f"79{entropy.below(10**9):09d}"
        company = entropy.pick(self.virtual_numbers)
        calling, called = (client, company) if direction == "in" else (company, client)
        ext_id = ext_id_for(index)
        type_roll = entropy.below(100)
        record_type = (
            None if is_lost and type_roll < 80 else "wav" if type_roll < 55 else "mp3" if type_roll < 85 else None
        )
        if status == "error" and record_type is None:
            record_type = "mp3"
        if status == "processed" and record_type == "wav" and finish - start < 16:
            record_type = "mp3"
        records = None
        if record_type == "wav":
            day_path = format_local(upload)[:10].replace("-", "/")
            url = f"{RECORDS_HOST}/{day_path}/{ext_id}.wav"
            employee_id, employee_name = entropy.pick(EMPLOYEES)
            records = [
                {
                    "employee_name": employee_name,
                    "employee_id": employee_id,
                    "employee_channel": "left" if entropy.chance(700) else "right",
                    "record_url": url,
                }
            ]
        error_code = None
        if status == "error":
            error_code = entropy.pick(ERROR_CODES)
            if error_code.startswith("wav_") and record_type != "wav":
                error_code = "decode_error"
        else:
            entropy.below(len(ERROR_CODES))
        session = entropy.below(4)
        if status == "processed" and call_session_id is None:
            call_session_id = UPLOAD_SESSION_BASE + 4 * index + session
        callback = None
        if entropy.chance(250):
            events = [event for event in CALLBACK_EVENTS if entropy.chance(600)] or ["processed"]
            callback = {"url": f"https://crm.example.ru/hooks/uis/{entropy.below(10**6)}", "events": events}
        tags: list[dict[str, Any]] = []
        for _ in range(1 + entropy.below(2) if entropy.chance(400) else 0):
            tag_id, tag_name = entropy.pick(TAGS)
            tags.append({"tag_id": tag_id, "tag_name": tag_name} if entropy.chance(700) else {"tag_name": tag_name})
        return {
            "ext_id": ext_id,
            "ext_request_id": request_id,
            "upload_time": format_local(upload),
            "direction": direction,
            "calling_phone_number": calling,
            "called_phone_number": called,
            "start_time": format_local(start),
            "finish_time": format_local(finish),
            "is_lost": is_lost,
            "is_transfer": entropy.chance(60),
            "wait_duration": wait,
            "talk_duration": talk,
            "visitor_session_id": 9_000_000_000 + entropy.below(10**9) if entropy.chance(400) else None,
            "campaign_id": entropy.pick(CAMPAIGNS)[0] if entropy.chance(350) else None,
            "source_id": entropy.pick(SOURCE_IDS) if entropy.chance(200) else None,
            "site_id": entropy.pick(SITES) if entropy.chance(500) else None,
            "comment": entropy.pick(COMMENTS) if entropy.chance(550) else None,
            "record_type": record_type,
            "status": status,
            "error_code": error_code,
            "call_session_id": call_session_id if status == "processed" else None,
            "callback": callback,
            "tags": tags,
            "records": records,
        }
