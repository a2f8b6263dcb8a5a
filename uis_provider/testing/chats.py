"""Chats (``get.chats_report``) and their messages (``get.chat_messages_report``).

A chat's course — its channel, who started it, the order and timing of its messages, whether an employee
answered — is drawn from a keyed hash of its ref; its report row and every message are derived from it, so a
chat's ``messages_count`` is the number of messages ``get.chat_messages_report`` holds for its ``chat_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uis_provider.testing.attribution import attribution, tags, token, weighted
from uis_provider.testing.daily import DailyTable
from uis_provider.testing.data import EMPLOYEES, Entropy
from uis_provider.testing.directory import (
    CHAT_CHANNELS,
    EMPLOYEE_NAMES,
    INVITE_LINES,
    OPERATOR_LINES,
    SYSTEM_LINES,
    VISITOR_LINES,
)
from uis_provider.testing.memo import LRU
from uis_provider.testing.timefmt import format_local

CHAT_BASE_ID = 5_000_000_000
#: Message ids are ``chat id * MESSAGES_PER_ID + n``.
MESSAGES_PER_ID = 100
#: No message comes later than this after its chat started.
MAX_CHAT_SECONDS = 3600
_MAX_GAP = 120
_CHANNEL_WEIGHTS = (550, 150, 120, 80, 60, 40)
_FILES = (
    ("image", "photo.jpg", "image/jpeg"),
    ("image", "screenshot.png", "image/png"),
    ("file", "order-4512.pdf", "application/pdf"),
)


@dataclass(frozen=True)
class Chat:
    """The course of one chat: channel, initiator, outcome, employee and its messages as ``(offset, source)``."""

    ref: int
    id: int
    start: int
    channel: tuple[int, str, str]
    initiator: str
    status: str
    release_cause: str
    employee_id: int | None
    visitor_ids: tuple[int, ...]
    messages: tuple[tuple[int, str], ...]
    duration: int
    transfer: bool

    @property
    def visitor_id(self) -> int:
        """The visitor who chatted (the first of a group chat)."""
        return self.visitor_ids[0]

    @property
    def answer_time(self) -> int | None:
        """Seconds from the first message to the first employee's reply, if one came."""
        replies = [offset for offset, source in self.messages if source == "operator"]
        return replies[0] - self.messages[0][0] if replies else None


def chat(key: bytes, ref: int, chat_id: int, start: int) -> Chat:
    """Chat ``ref`` (API id ``chat_id``), started at local ``start``."""
    entropy = Entropy(key, "chat", ref)
    channel = weighted(entropy, tuple(zip(CHAT_CHANNELS, _CHANNEL_WEIGHTS, strict=True)))
    on_site = channel[1] == "comagic"
    if on_site:
        initiator = weighted(entropy, (("visitor", 70), ("autoinvite", 20), ("operator", 10)))
    else:
        initiator = weighted(entropy, (("chat_channel", 85), ("chatbot", 10), ("operator", 5)))
    if initiator == "autoinvite" and entropy.chance(400):
        status, cause = "refused", "invite_rejected"
    elif initiator != "operator" and entropy.chance(150):
        status = "lost"
        cause = weighted(
            entropy, (("visitor_disconnected", 5), ("closed_by_timeout", 3), ("visitor_session_expired", 2))
        )
    else:
        status = "succeed"
        cause = weighted(entropy, (("closed_by_operator", 6), ("closed_by_visitor", 2), ("closed_by_timeout", 2)))
    sources = [initiator]  # every initiator is also a message source
    if status == "refused":
        sources.append("system")
    elif status == "lost":
        sources += ["visitor"] * (1 + entropy.below(3)) + ["system"]
    else:
        if initiator != "visitor":
            sources.append("visitor")
        for _ in range(1 + entropy.below(9)):
            sources += ["operator", "visitor"]
        if entropy.chance(100):
            sources.append("form_text")
        if entropy.chance(60):
            sources.append("retention")
    transfer = status == "succeed" and entropy.chance(80)
    if transfer:
        sources.insert(len(sources) // 2, "system")
    offsets = []
    offset = 0
    for _source in sources:
        offsets.append(offset)
        offset += 3 + entropy.below(_MAX_GAP - 3)
    group = channel[1] == "telegram" and entropy.chance(50)
    visitors = tuple(3_000_000_000 + entropy.below(10**9) for _ in range(3 + entropy.below(4) if group else 1))
    employee = entropy.pick(EMPLOYEES)[0] if status != "lost" or initiator == "operator" else None
    return Chat(
        ref=ref,
        id=chat_id,
        start=start,
        channel=channel,
        initiator=initiator,
        status=status,
        release_cause=cause,
        employee_id=employee,
        visitor_ids=visitors,
        messages=tuple(zip(offsets, sources, strict=True)),
        duration=min(MAX_CHAT_SECONDS, offsets[-1] + 10 + entropy.below(300)),
        transfer=transfer,
    )


def chat_row(course: Chat, key: bytes, visitor_types: tuple[str, ...]) -> dict[str, Any]:
    """Every documented ``get.chats_report`` column of a chat."""
    entropy = Entropy(key, "chat-row", course.ref)
    on_site = course.channel[1] == "comagic"
    row = attribution(entropy, course.start, tracked=on_site, visitor_types=visitor_types)
    channel_id, channel_type, channel_name = course.channel
    messenger_user = None if on_site else str(100_000_000 + entropy.below(9 * 10**8))
    employee = course.employee_id
    row.update(
        id=course.id,
        status=course.status,
        initiator=course.initiator,
        date_time=format_local(course.start),
        duration=str(course.duration),
        answer_time=course.answer_time,
        communication_id=course.id,
        communication_type="chat",
        chat_ad_url=f"https://www.avito.ru/moskva/mebel/divan_{entropy.below(10**10)}"
        if channel_type == "avito"
        else None,
        chat_channel_id=channel_id,
        chat_channel_type=channel_type,
        chat_channel_name=channel_name,
        chat_user_id=messenger_user,
        chat_username=f"user_{token(entropy, 6).lower()}" if messenger_user else None,
        messages_count=len(course.messages),
        is_group_chat=len(course.visitor_ids) > 1,
        is_transfer=course.transfer,
        release_cause=course.release_cause,
        employee_id=employee,
        employee_full_name=EMPLOYEE_NAMES.get(employee) if employee is not None else None,
        employee_raiting=1 + entropy.below(5) if employee is not None and entropy.chance(200) else None,
        employee_messages_count=sum(1 for _offset, source in course.messages if source == "operator"),
        tags=tags(entropy, course.start, 250),
        visitor_phone_number=79_000_000_000 + entropy.below(10**9) if entropy.chance(300) else None,
        visitor_id=course.visitor_id,
        visitor_ids=list(course.visitor_ids),
        visitor_profile_url=f"https://app.uiscom.ru/#visitor/{course.visitor_id}",
        ext_id=f"chat-{entropy.below(10**8)}" if entropy.chance(100) else None,
    )
    return row


def message_row(course: Chat, number: int, key: bytes) -> dict[str, Any]:
    """Every documented ``get.chat_messages_report`` column of the chat's ``number``-th message."""
    message_id = course.id * MESSAGES_PER_ID + number
    offset, source = course.messages[number]
    entropy = Entropy(key, "message", message_id)
    lines = {"visitor": VISITOR_LINES, "operator": OPERATOR_LINES, "autoinvite": INVITE_LINES}.get(source)
    text = entropy.pick(lines) if lines else entropy.pick(SYSTEM_LINES)
    if source == "form_text":
        text = f"Имя: Посетитель; Телефон: 79{entropy.below(10**9):09d}"
    elif source in ("chat_channel", "chatbot"):
        text = "Здравствуйте! Чем можем помочь?" if source == "chatbot" else "Пользователь начал диалог"
    resource = None
    if source in ("visitor", "operator") and entropy.chance(80):
        kind, name, mime = entropy.pick(_FILES)
        resource = {
            "size": 20_000 + entropy.below(3_000_000),
            "type": kind,
            "file_url": f"https://app.uiscom.ru/chat/files/{message_id}/{name}",
            "file_name": name,
            "mime_type": mime,
        }
    employee = course.employee_id if source in ("operator", "autoinvite") else None
    return {
        "id": message_id,
        "chat_id": course.id,
        "channel_id": course.channel[0],
        "channel_type": course.channel[1],
        "date_time": format_local(course.start + offset),
        "is_group_chat": len(course.visitor_ids) > 1,
        "visitor_id": course.visitor_id if source in ("visitor", "form_text", "chat_channel") else None,
        "text": text,
        "source": source,
        "resource": resource,
        "employee_id": employee,
        "employee_full_name": EMPLOYEE_NAMES.get(employee) if employee is not None else None,
    }


class Chats:
    """The chats of the history and their messages; refs of messages are ``chat ref * MESSAGES_PER_ID + n``."""

    def __init__(
        self, *, per_day: int, seed: int, start: int, days: int, key: bytes, visitor_types: tuple[str, ...]
    ) -> None:
        self.key = key
        self.visitor_types = visitor_types
        self.table = DailyTable(
            name="chats",
            per_day=per_day,
            seed=seed,
            start=start,
            days=days,
            base_id=CHAT_BASE_ID,
            make_row=lambda ref, _id, _moment: chat_row(self.course(ref), self.key, self.visitor_types),
        )
        self._courses: LRU[int, Chat] = LRU(20_000)

    def course(self, ref: int) -> Chat:
        """The course of chat ``ref``."""
        return self._courses.get_or_make(
            ref, lambda: chat(self.key, ref, self.table.id_of(ref), self.table.moment(ref))
        )

    def message(self, ref: int) -> dict[str, Any]:
        """Message ``ref``."""
        chat_ref, number = divmod(ref, MESSAGES_PER_ID)
        return message_row(self.course(chat_ref), number, self.key)

    def _messages(self, chat_refs: list[int], lo: int | None, hi: int | None) -> list[int]:
        found = []
        for chat_ref in chat_refs:
            course = self.course(chat_ref)
            for number, (offset, _source) in enumerate(course.messages):
                moment = course.start + offset
                if (lo is None or lo <= moment) and (hi is None or moment < hi):
                    found.append((moment, course.id, chat_ref * MESSAGES_PER_ID + number))
        found.sort()
        return [ref for _moment, _chat, ref in found]

    def message_window(self, lo: int, hi: int) -> list[int]:
        """Refs of the messages sent in local ``[lo, hi)``, in sending order."""
        return self._messages(self.table.window(lo - MAX_CHAT_SECONDS, hi), lo, hi)

    def messages_of(self, chat_ids: list[int], lo: int | None = None, hi: int | None = None) -> list[int]:
        """Refs of the messages of the chats ``chat_ids`` (unknown ids have none), within ``[lo, hi)`` if given."""
        refs = sorted({ref for ref in (self.table.ref_of(chat_id) for chat_id in chat_ids) if ref is not None})
        return self._messages(refs, lo, hi)
