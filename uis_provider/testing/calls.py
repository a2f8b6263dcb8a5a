"""A call as the reports show it: its ``get.calls_report`` row, its legs (``get.call_legs_report``) and the
charge of each leg (``get.financial_call_legs_report``).

A call of the account's own telephony ("native") is drawn from a keyed hash of its number, like an uploaded
call: its timeline (ringing employees one after another, talk, a transfer) decides every duration, employee and
leg, so the three reports agree. A processed uploaded call becomes a row with ``source`` = ``upload_calls`` and has
no legs (it was not made through the account's telephony).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from uis_provider.testing.attribution import attribution, link_id, tags, weighted
from uis_provider.testing.data import EMPLOYEES, Entropy
from uis_provider.testing.directory import (
    AUTO_CALL_CAMPAIGNS,
    CAMPAIGN_NAMES,
    CONTACTS,
    EMPLOYEE_GROUPS,
    EMPLOYEE_NAMES,
    EMPLOYEE_PHONES,
    NUMBER_REGIONS,
    SCENARIO_OPERATIONS,
    SCENARIOS,
    SITE_DOMAINS,
    TAG_NAMES,
)
from uis_provider.testing.timefmt import format_local

NATIVE_SESSION_BASE = 3_100_000_000
#: The longest a native call lasts (its legs all start within it): IVR + three rings + talk + a transfer ring.
MAX_NATIVE_SECONDS = 20 + 3 * 30 + 1430 + 15
#: Legs per call are numbered ``call id * LEGS_PER_ID + n``.
LEGS_PER_ID = 10
MEDIA_HOST = "https://media.uiscom.ru"
_INBOUND_SOURCES = (("call_tracking", 40), ("dynamic_call_tracking", 40), ("va", 15), ("lead", 5))
_OUTBOUND_SOURCES = (("va", 50), ("callapi", 25), ("sitephone", 15), ("sip", 10))
#: Sources a call can be charged under on the financial legs page; the others are charged as ``va``.
_FINANCIAL_SOURCES = frozenset({"callapi", "call_tracking", "dynamic_call_tracking", "va", "sip", "lead", "sitephone"})
_CAUSES = {16: "Normal call clearing", 17: "User busy", 19: "No answer from user (user alerted)"}
_REASON_TEXT = {
    "subscriber_disconnects": "Абонент положил трубку",
    "operator_disconnects": "Сотрудник положил трубку",
    "timeout": "Истекло время ожидания ответа",
    "operator_busy": "Сотрудник занят",
    "no_success_operator_call": "Сотрудник не ответил на вызов",
}
_PROPERTIES = ("Перезвоните после 18:00", "Интересует доставка", "Нужна консультация по рассрочке")


@dataclass(frozen=True)
class Attempt:
    """One employee rung during a call: when (seconds after the call's start), for how long, and the talk."""

    employee_id: int
    offset: int
    ring: int
    talk: int

    @property
    def answered(self) -> bool:
        """The employee picked up."""
        return self.talk > 0


@dataclass(frozen=True)
class NativeCall:
    """The timeline of one call of the account's own telephony; every report row of it is derived from this."""

    number: int
    id: int
    start: int
    direction: str
    is_lost: bool
    wait: int
    transfer_wait: int
    talk: int
    source: str
    contact: str
    virtual: str
    scenario: tuple[int, str] | None
    attempts: tuple[Attempt, ...]

    @property
    def finish(self) -> int:
        """Local moment the call ended."""
        return self.start + self.wait + self.transfer_wait + self.talk

    @property
    def is_transfer(self) -> bool:
        """The call was passed on to a second employee."""
        return self.transfer_wait > 0


def native_call(key: bytes, virtual_numbers: tuple[str, ...], number: int, start: int) -> NativeCall:
    """Native call ``number``, started at local ``start``: its direction, rings, talk and employees."""
    entropy = Entropy(key, "native", number)
    call_id = NATIVE_SESSION_BASE + 4 * number + entropy.below(4)
    inbound = entropy.below(10) < 8
    talk = 5 + entropy.below(1000) ** 2 // 700
    staff = list(EMPLOYEES)
    attempts: list[Attempt] = []
    transfer_wait = 0
    if inbound:
        is_lost = entropy.chance(150)
        offset = 6 + entropy.below(15) if entropy.chance(700) else 0
        tries = 1 + entropy.below(3) if entropy.chance(350) else 1
        for attempt in range(tries):
            employee_id = staff.pop(entropy.below(len(staff)))[0]
            answered = attempt == tries - 1 and not is_lost
            ring = 3 + entropy.below(20) if answered else 15 + entropy.below(16)
            if is_lost and attempt == tries - 1:
                ring = 1 + entropy.below(ring)
            attempts.append(Attempt(employee_id, offset, ring, talk if answered else 0))
            offset += ring
        wait = offset
        if not is_lost and entropy.chance(60):
            first = talk // 3 + 1
            transfer_wait = 5 + entropy.below(10)
            employee_id = staff.pop(entropy.below(len(staff)))[0]
            attempts[-1] = Attempt(attempts[-1].employee_id, attempts[-1].offset, attempts[-1].ring, first)
            attempts.append(Attempt(employee_id, wait + first, transfer_wait, talk - first))
        source = weighted(entropy, _INBOUND_SOURCES)
        scenario = entropy.pick(SCENARIOS[:3])
    else:
        is_lost = entropy.chance(250)
        employee_id = entropy.pick(EMPLOYEES)[0]
        own_ring = 2 + entropy.below(4)
        wait = own_ring + 5 + entropy.below(30)
        attempts.append(Attempt(employee_id, 0, own_ring, 0 if is_lost else talk))
        source = weighted(entropy, _OUTBOUND_SOURCES)
        scenario = SCENARIOS[3] if source != "va" else None
    return NativeCall(
        number=number,
        id=call_id,
        start=start,
        direction="in" if inbound else "out",
        is_lost=is_lost,
        wait=wait,
        transfer_wait=transfer_wait,
        talk=0 if is_lost else talk,
        source=source,
        contact=f"79{entropy.below(10**9):09d}",
        virtual=entropy.pick(virtual_numbers),
        scenario=scenario,
        attempts=tuple(attempts),
    )


def _region(entropy: Entropy, phone: str) -> tuple[int, str, str, str]:
    if phone.startswith(("7495", "7499")):
        return NUMBER_REGIONS[0]
    if phone.startswith("7812"):
        return NUMBER_REGIONS[2]
    return entropy.pick(NUMBER_REGIONS)


def _staff(attempts: tuple[Attempt, ...]) -> dict[str, Any]:
    """``employees`` and the first/last answered/talked employee columns of a call."""
    employees = [
        {
            "employee_id": attempt.employee_id,
            "employee_full_name": EMPLOYEE_NAMES.get(attempt.employee_id),
            "is_answered": attempt.answered,
            "is_talked": attempt.answered,
        }
        for attempt in attempts
    ]
    answered = [attempt.employee_id for attempt in attempts if attempt.answered]
    columns: dict[str, Any] = {"employees": employees}
    for which, position in (("first", 0), ("last", -1)):
        employee_id = answered[position] if answered else None
        name = EMPLOYEE_NAMES.get(employee_id) if employee_id is not None else None
        for kind in ("answered", "talked"):
            columns[f"{which}_{kind}_employee_id"] = employee_id
            columns[f"{which}_{kind}_employee_full_name"] = name
    return columns


def _records(entropy: Entropy, call_id: int, talked: bool) -> dict[str, Any]:
    """The recording columns: link ids of the MP3 and WAV recordings and the full-record link."""
    if not talked:
        voice_mail = [link_id(entropy)] if entropy.chance(200) else []
        return {
            "call_records": [],
            "wav_call_records": [],
            "full_record_file_link": None,
            "voice_mail_records": voice_mail,
        }
    links = [link_id(entropy)]
    return {
        "call_records": links,
        "wav_call_records": list(links) if entropy.chance(400) else [],
        "full_record_file_link": f"{MEDIA_HOST}/{call_id}/{links[0]}",
        "voice_mail_records": [],
    }


def call_row(call: NativeCall, key: bytes, visitor_types: tuple[str, ...]) -> dict[str, Any]:
    """Every documented ``get.calls_report`` column of a finished native call."""
    entropy = Entropy(key, "native-row", call.number)
    tracked = call.source in ("dynamic_call_tracking", "sitephone") or (call.source == "va" and entropy.chance(300))
    row = attribution(entropy, call.start, tracked=tracked, visitor_types=visitor_types)
    region = _region(entropy, call.contact)
    talked = not call.is_lost
    contact = entropy.pick(CONTACTS) if entropy.chance(400) else (None, None)
    operations = [] if call.direction == "out" else [{"id": op, "name": name} for op, name in SCENARIO_OPERATIONS[:3]]
    answering = [attempt for attempt in call.attempts if attempt.answered]
    callapi = call.source == "callapi"
    if call.is_lost and call.direction == "in":
        finish_reason = "subscriber_disconnects"
    elif call.is_lost:
        finish_reason = "no_success_subscriber_call"
    else:
        finish_reason = "subscriber_disconnects" if entropy.chance(550) else "operator_disconnects"
    row.update(
        id=call.id,
        start_time=format_local(call.start),
        finish_time=format_local(call.finish),
        finish_reason=finish_reason,
        direction=call.direction,
        cpn_region_id=region[0],
        cpn_region_name=region[1],
        cpn_country_id=region[2],
        cpn_country_name=region[3],
        properties=entropy.pick(_PROPERTIES) if call.source == "sitephone" else None,
        scenario_operations=operations,
        source=call.source,
        is_lost=call.is_lost,
        contact_phone_number=call.contact,
        communication_id=call.id,
        communication_type="call",
        wait_duration=call.wait,
        total_wait_duration=call.wait + call.transfer_wait,
        lost_call_processing_duration=600 + entropy.below(7200) if call.is_lost and entropy.chance(400) else None,
        talk_duration=call.talk,
        clean_talk_duration=max(0, call.talk - entropy.below(6)),
        total_duration=call.finish - call.start,
        postprocess_duration=entropy.below(90) if talked else 0,
        virtual_phone_number=call.virtual,
        is_transfer=call.is_transfer,
        tags=tags(entropy, call.start, 300),
        last_answered_employee_rating=1 + entropy.below(5) if answering and entropy.chance(150) else None,
        operator_phone_number=EMPLOYEE_PHONES[answering[-1].employee_id] if answering else None,
        scenario_id=call.scenario[0] if call.scenario else None,
        scenario_name=call.scenario[1] if call.scenario else None,
        auto_call_campaign_name=entropy.pick(AUTO_CALL_CAMPAIGNS) if callapi and entropy.chance(500) else None,
        call_api_request_id=700_000_000 + entropy.below(10**8) if callapi else None,
        call_api_external_id=f"crm-{entropy.below(10**6)}" if callapi and entropy.chance(600) else None,
        contact_id=contact[0],
        contact_full_name=contact[1],
        ext_id=f"crm-call-{entropy.below(10**7)}" if callapi and entropy.chance(300) else None,
    )
    row.update(_records(entropy, call.id, talked))
    row.update(_staff(call.attempts))
    if call.is_lost and "lost" not in row["attributes"]:
        row["attributes"] = [*row["attributes"], "lost"]
    return row


#: Columns of an ongoing call that have no value until it ends.
ONGOING_NULLS = (
    "finish_time",
    "finish_reason",
    "is_lost",
    "talk_duration",
    "clean_talk_duration",
    "total_duration",
    "postprocess_duration",
    "lost_call_processing_duration",
    "full_record_file_link",
    "last_answered_employee_rating",
    "sale_date",
    "sale_cost",
)
ONGOING_EMPTY = ("call_records", "wav_call_records", "voice_mail_records")


def ongoing(row: dict[str, Any]) -> dict[str, Any]:
    """The row of a call still in progress: what is known only when it ends is null (or empty)."""
    return {
        **row,
        **dict.fromkeys(ONGOING_NULLS),
        **{name: [] for name in ONGOING_EMPTY},
    }


def upload_row(
    record: dict[str, Any], start: int, finish: int, key: bytes, visitor_types: tuple[str, ...]
) -> dict[str, Any]:
    """Every documented ``get.calls_report`` column of a processed uploaded call (``source`` = ``upload_calls``)."""
    call_id = int(record["call_session_id"])
    entropy = Entropy(key, "upload-row", call_id)
    incoming = record["direction"] != "out"
    tracked = record["visitor_session_id"] is not None or record["source_id"] is not None
    row = attribution(entropy, start, tracked=tracked, visitor_types=visitor_types, source_id=record["source_id"])
    campaign_id, site_id = record["campaign_id"], record["site_id"]
    row.update(
        campaign_id=campaign_id,
        campaign_name=CAMPAIGN_NAMES.get(campaign_id) if campaign_id is not None else None,
        site_id=site_id,
        site_domain_name=SITE_DOMAINS.get(site_id) if site_id is not None else None,
        visitor_session_id=record["visitor_session_id"],
    )
    contact = record["calling_phone_number" if incoming else "called_phone_number"]
    region = _region(entropy, contact or "")
    wait = record["wait_duration"] or 0
    talk = record["talk_duration"] or 0
    employees = [
        {
            "employee_id": item.get("employee_id"),
            "employee_full_name": item.get("employee_name"),
            "is_answered": not record["is_lost"],
            "is_talked": not record["is_lost"],
        }
        for item in record["records"] or []
    ]
    answered = employees[0] if employees and not record["is_lost"] else None
    links = [f"{call_id:032x}"] if record["records"] or record["record_type"] else []
    row.update(
        id=call_id,
        start_time=format_local(start),
        finish_time=format_local(finish),
        finish_reason="no_success_operator_call" if record["is_lost"] else "subscriber_disconnects",
        direction=record["direction"],
        cpn_region_id=region[0],
        cpn_region_name=region[1],
        cpn_country_id=region[2],
        cpn_country_name=region[3],
        properties=None,
        scenario_operations=[],
        source="upload_calls",
        is_lost=record["is_lost"],
        contact_phone_number=contact,
        communication_id=call_id,
        communication_type="call",
        wait_duration=wait,
        total_wait_duration=wait,
        lost_call_processing_duration=None,
        talk_duration=talk,
        clean_talk_duration=talk,
        total_duration=max(finish - start, wait + talk),
        postprocess_duration=None,
        call_records=links,
        wav_call_records=list(links) if record["record_type"] == "wav" else [],
        full_record_file_link=f"{MEDIA_HOST}/{call_id}/{links[0]}" if links else None,
        voice_mail_records=[],
        virtual_phone_number=record["called_phone_number" if incoming else "calling_phone_number"],
        is_transfer=bool(record["is_transfer"]),
        tags=[_uploaded_tag(tag, start) for tag in record["tags"] or []],
        employees=employees,
        last_answered_employee_rating=None,
        operator_phone_number=None,
        scenario_id=None,
        scenario_name=None,
        auto_call_campaign_name=None,
        call_api_request_id=None,
        call_api_external_id=None,
        contact_id=None,
        contact_full_name=None,
        ext_id=record["ext_id"],
    )
    for which in ("first", "last"):
        for kind in ("answered", "talked"):
            row[f"{which}_{kind}_employee_id"] = answered["employee_id"] if answered else None
            row[f"{which}_{kind}_employee_full_name"] = answered["employee_full_name"] if answered else None
    return row


def _uploaded_tag(tag: dict[str, Any], moment: int) -> dict[str, Any]:
    """A tag sent with ``upload.calls`` as the report shows it: set automatically when the call was processed."""
    name = tag.get("tag_name")
    tag_id = tag.get("tag_id")
    if tag_id is None:
        tag_id = next((known for known, known_name in TAG_NAMES.items() if known_name == name), None)
    return {
        "tag_id": tag_id,
        "tag_name": name if name is not None or tag_id is None else TAG_NAMES.get(tag_id),
        "tag_change_time": format_local(moment),
        "tag_type": "auto",
        "tag_user_id": None,
        "tag_user_login": None,
        "tag_employee_id": None,
        "tag_employee_full_name": None,
    }


def _leg(call: NativeCall, index: int, contact: tuple[int | None, str | None], **columns: Any) -> dict[str, Any]:
    """One leg: the call's shared columns, then the leg's own."""
    talked = bool(columns["is_talked"])
    cause = 16 if talked else 17 if columns["finish_reason"] == "operator_busy" else 19
    row: dict[str, Any] = {
        "id": call.id * LEGS_PER_ID + index,
        "call_session_id": call.id,
        "virtual_phone_number": call.virtual,
        "direction": call.direction,
        "finish_reason_description": _REASON_TEXT.get(columns["finish_reason"]),
        "scenario_id": call.scenario[0] if call.scenario else None,
        "scenario_name": call.scenario[1] if call.scenario else None,
        "is_coach": False,
        "release_cause_code": cause,
        "release_cause_description": _CAUSES[cause],
        "is_failed": not talked,
        "contact_id": contact[0],
        "contact_full_name": contact[1],
        "contact_phone_number": call.contact,
    }
    row.update(columns)
    return row


def legs(call: NativeCall, key: bytes) -> list[dict[str, Any]]:
    """Every documented ``get.call_legs_report`` column of each leg of a finished native call, in start order.

    An inbound call has the caller's leg (from its start to its end) and one leg per employee rung; an outbound
    one has the employee's leg (rung first) and then the leg to the client.
    """
    entropy = Entropy(key, "legs", call.number)
    contact = entropy.pick(CONTACTS) if entropy.chance(400) else (None, None)
    inbound = call.direction == "in"
    talked = not call.is_lost

    def recordings(present: bool) -> dict[str, list[str]]:
        links = [link_id(entropy)] if present else []
        return {"call_records": links, "wav_call_records": list(links) if links and entropy.chance(400) else []}

    client_start = call.start + leg_offsets(call)[0]
    client_reason = "subscriber_disconnects" if talked or inbound else "subscriber_not_responsible"
    rows = [
        _leg(
            call,
            0,
            contact,
            **recordings(talked),
            start_time=format_local(client_start),
            connect_time=format_local(call.start if inbound else call.start + call.wait) if talked or inbound else None,
            duration=call.talk,
            total_duration=call.finish - client_start,
            finish_reason=client_reason,
            calling_phone_number=call.contact if inbound else call.virtual,
            called_phone_number=call.virtual if inbound else call.contact,
            is_transfered=False,
            is_operator=False,
            employee_id=None,
            employee_full_name=None,
            employee_phone_number=None,
            employee_rating=None,
            is_talked=talked,
            action_id=SCENARIO_OPERATIONS[0][0] if inbound and call.scenario else None,
            action_name=SCENARIO_OPERATIONS[0][1] if inbound and call.scenario else None,
            group_id=None,
            group_name=None,
        )
    ]
    for number, attempt in enumerate(call.attempts, start=1):
        answered = attempt.answered
        transfer = call.is_transfer and number == len(call.attempts)
        if answered:
            reason = "operator_disconnects" if entropy.chance(450) else "subscriber_disconnects"
        else:
            reason = "operator_busy" if entropy.chance(150) else "timeout"
        phone = EMPLOYEE_PHONES[attempt.employee_id]
        group = EMPLOYEE_GROUPS[attempt.employee_id] if inbound else (None, None)
        operation = SCENARIO_OPERATIONS[2 if transfer else 1] if inbound else (None, None)
        rows.append(
            _leg(
                call,
                number,
                contact,
                **recordings(answered),
                start_time=format_local(call.start + attempt.offset),
                connect_time=format_local(call.start + attempt.offset + attempt.ring) if answered else None,
                duration=attempt.talk,
                total_duration=attempt.ring + attempt.talk if inbound else call.finish - call.start,
                finish_reason=reason,
                calling_phone_number=call.virtual if inbound else phone,
                called_phone_number=phone if inbound else call.virtual,
                is_transfered=transfer,
                is_operator=True,
                employee_id=attempt.employee_id,
                employee_full_name=EMPLOYEE_NAMES[attempt.employee_id],
                employee_phone_number=phone,
                employee_rating=1 + entropy.below(5) if answered and entropy.chance(150) else None,
                is_talked=answered,
                action_id=operation[0],
                action_name=operation[1],
                group_id=group[0],
                group_name=group[1],
            )
        )
    rows.sort(key=lambda leg: (leg["start_time"], leg["id"]))
    return rows


def financial_row(call: NativeCall, leg: dict[str, Any], key: bytes) -> dict[str, Any]:
    """Every documented ``get.financial_call_legs_report`` column: the charge of one leg."""
    entropy = Entropy(key, "charge", leg["id"])
    called = str(leg["called_phone_number"])
    if called.startswith(("7495", "7499")):
        direction_type, price = "local", 0.95
    elif called.startswith("79"):
        direction_type, price = "mobile", 1.95
    elif called.startswith("7"):
        direction_type, price = "national", 2.5
    else:
        direction_type, price = "international", 12.0
    inbound_client = not leg["is_operator"] and call.direction == "in"
    if inbound_client:
        price = 2.1 if call.virtual.startswith("7800") else 0.0
    duration = int(leg["duration"])
    chargeable = 60 * math.ceil(duration / 60) if duration else 0
    charge = round(chargeable / 60 * price, 2)
    bonuses = round(charge * entropy.below(50) / 100, 2) if charge and entropy.chance(100) else 0.0
    return {
        "start_time": leg["start_time"],
        "direction": call.direction,
        "source": call.source if call.source in _FINANCIAL_SOURCES else "va",
        "call_session_id": call.id,
        "leg_id": leg["id"],
        "calling_phone_number": leg["calling_phone_number"],
        "called_phone_number": leg["called_phone_number"],
        "duration": duration,
        "chargeable_duration": chargeable,
        "direction_type": direction_type,
        "cost_per_minute": price,
        "total_charge": charge,
        "bonuses_charge": bonuses,
    }


def leg_offsets(call: NativeCall) -> list[int]:
    """Seconds after the call's start at which each of its legs starts, by leg index (0 = the client's leg)."""
    client = 0 if call.direction == "in" else call.attempts[0].ring
    return [client, *(attempt.offset for attempt in call.attempts)]
