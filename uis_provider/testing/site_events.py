"""What visitors leave on the account's sites besides calls and chats: offline messages (requests sent through a
form, ``get.offline_messages_report``) and goals they reach (``get.goals_report``)."""

from __future__ import annotations

from typing import Any

from uis_provider.testing.attribution import attribution, tags, weighted
from uis_provider.testing.data import EMPLOYEES, Entropy
from uis_provider.testing.directory import EMPLOYEE_GROUPS, EMPLOYEE_NAMES, FORMS, GOALS, OFFLINE_TEXTS, VISITOR_NAMES
from uis_provider.testing.timefmt import format_local

OFFLINE_BASE_ID = 6_000_000_000
GOAL_BASE_ID = 7_000_000_000


def offline_message_row(
    key: bytes, ref: int, message_id: int, moment: int, visitor_types: tuple[str, ...]
) -> dict[str, Any]:
    """Every documented ``get.offline_messages_report`` column of offline message ``ref``."""
    entropy = Entropy(key, "offline", ref)
    form_name, form_type = entropy.pick(FORMS)
    row = attribution(entropy, moment, tracked=form_type != "DataAPI", visitor_types=visitor_types)
    status = weighted(entropy, (("processed", 75), ("processing", 15), ("not_processed", 10)))
    employee_id = entropy.pick(EMPLOYEES)[0] if status != "not_processed" else None
    group_id, group_name = EMPLOYEE_GROUPS[employee_id] if employee_id is not None else (None, None)
    name = entropy.pick(VISITOR_NAMES)
    processed = status == "processed"
    row.update(
        id=message_id,
        date_time=format_local(moment),
        text=entropy.pick(OFFLINE_TEXTS),
        communication_id=message_id,
        communication_type="offline_message",
        is_agree_to_process_personal_data=entropy.chance(900),
        is_agree_to_mailing=entropy.chance(300),
        status=status,
        process_time=format_local(moment + 300 + entropy.below(8 * 3600)) if processed else None,
        form_type=form_type,
        form_name=form_name,
        properties="Удобное время: после 18:00" if entropy.chance(200) else None,
        group_id=group_id,
        group_name=group_name,
        employee_id=employee_id,
        employee_full_name=EMPLOYEE_NAMES.get(employee_id) if employee_id is not None else None,
        employee_answer_message="Здравствуйте! Перезвоним вам сегодня." if processed and entropy.chance(400) else None,
        employee_comment="Клиент ждёт звонка" if processed and entropy.chance(300) else None,
        tags=tags(entropy, moment, 200),
        visitor_phone_number=79_000_000_000 + entropy.below(10**9) if entropy.chance(850) else None,
        visitor_email=f"client{entropy.below(10**5)}@mail.example" if entropy.chance(500) else None,
        visitor_name=name,
        ext_id=f"crm-lead-{entropy.below(10**7)}" if form_type == "DataAPI" else None,
    )
    return row


def goal_row(key: bytes, ref: int, goal_id: int, moment: int, visitor_types: tuple[str, ...]) -> dict[str, Any]:
    """Every documented ``get.goals_report`` column of goal achievement ``ref``."""
    entropy = Entropy(key, "goal", ref)
    name, goal_type, source, ext_id = entropy.pick(GOALS)
    row = attribution(entropy, moment, tracked=True, visitor_types=visitor_types)
    row.update(
        id=goal_id,
        date_time=format_local(moment),
        name=name,
        type=goal_type,
        ext_id=ext_id,
        source=source,
        communication_id=goal_id,
        communication_type="goal",
        tags=tags(entropy, moment, 50),
    )
    return row
