"""The emulated account's reference data: employees, groups, sites, campaigns, traffic sources, tags, scenarios,
the agent's client users and the configurable reports. Every generated record draws its names and ids from here,
so the same employee or campaign carries the same id in every report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uis_provider.testing.data import CAMPAIGNS, EMPLOYEES, SITES, TAGS

#: Employee id -> (full name, phone number, group id); ids and names as in the uploaded calls.
EMPLOYEE_PHONES: dict[int, str] = {
    employee_id: f"7495120{index:04d}" for index, (employee_id, _) in enumerate(EMPLOYEES)
}
EMPLOYEE_NAMES: dict[int, str] = dict(EMPLOYEES)
GROUPS: tuple[tuple[int, str], ...] = ((301, "Отдел продаж"), (302, "Поддержка"), (303, "Доставка"))
EMPLOYEE_GROUPS: dict[int, tuple[int, str]] = {
    employee_id: GROUPS[index % len(GROUPS)] for index, (employee_id, _) in enumerate(EMPLOYEES)
}
#: Users of the account's cabinet who set tags by hand: (user id, login, employee id).
CABINET_USERS: tuple[tuple[int, str, int], ...] = (
    (9001, "a.ivanova", 100101),
    (9002, "d.petrov", 100102),
    (9003, "supervisor", 100105),
)
TAG_NAMES: dict[int, str] = dict(TAGS)
SITE_DOMAINS: dict[int, str] = dict(zip(SITES, ("shop.example.ru", "promo.example.ru", "spb.example.ru"), strict=True))
CAMPAIGN_NAMES: dict[int, str] = dict(CAMPAIGNS)
SCENARIOS: tuple[tuple[int, str], ...] = (
    (4101, "Входящие: рабочее время"),
    (4102, "Входящие: нерабочее время"),
    (4103, "Обратный звонок из формы на сайте"),
    (4104, "Исходящие менеджеров"),
)
#: Scenario operations a call passes through: (action id, name).
SCENARIO_OPERATIONS: tuple[tuple[int, str], ...] = (
    (61001, "Голосовое меню"),
    (61002, "Очередь отдела продаж"),
    (61003, "Переадресация на сотрудника"),
    (61004, "Голосовая почта"),
    (61005, "Информатор"),
)
AUTO_CALL_CAMPAIGNS: tuple[str, ...] = ("Обзвон брошенных корзин", "Напоминание про запись")


@dataclass(frozen=True)
class TrafficSource:
    """One detailed traffic source: its id, names, channel, the campaign it usually brings and its search engine."""

    id: int
    name: str
    source_new: str
    channel_new: str
    channel_code: str
    channel: str
    campaign_id: int | None
    engine: str | None


#: Ids 11-14 are the ``source_id`` values of the uploaded calls.
TRAFFIC_SOURCES: tuple[TrafficSource, ...] = (
    TrafficSource(11, "Яндекс.Директ", "Контекстная реклама", "Яндекс.Директ", "yandex_direct", "paid", 101, "yandex"),
    TrafficSource(12, "Google Ads", "Контекстная реклама", "Google Ads", "google_ads", "paid", 103, "google"),
    TrafficSource(13, "Яндекс", "Поисковые системы", "Органический поиск", "organic", "organic", 104, "yandex"),
    TrafficSource(14, "Google", "Поисковые системы", "Органический поиск", "organic", "organic", 104, "google"),
    TrafficSource(15, "ВКонтакте", "Социальные сети", "Социальные сети", "social", "social", None, None),
    TrafficSource(16, "Рассылка", "Email", "Email-рассылки", "email", "email", 105, None),
    TrafficSource(
        17, "Сайты-партнёры", "Переходы по ссылкам", "Переходы по ссылкам", "referral", "referral", None, None
    ),
    TrafficSource(18, "Прямые заходы", "Прямые заходы", "Прямые заходы", "direct", "direct", None, None),
)
SOURCES_BY_ID: dict[int, TrafficSource] = {source.id: source for source in TRAFFIC_SOURCES}
#: (city, region, country) of visitors.
PLACES: tuple[tuple[str, str, str], ...] = (
    ("Москва", "Москва", "Россия"),
    ("Москва", "Москва", "Россия"),
    ("Санкт-Петербург", "Санкт-Петербург", "Россия"),
    ("Химки", "Московская область", "Россия"),
    ("Казань", "Республика Татарстан", "Россия"),
    ("Екатеринбург", "Свердловская область", "Россия"),
    ("Минск", "Минская область", "Беларусь"),
)
#: (region id, region name, country id, country name) of callers' numbers; the country id is text on the pages.
NUMBER_REGIONS: tuple[tuple[int, str, str, str], ...] = (
    (77, "Москва", "643", "Россия"),
    (50, "Московская область", "643", "Россия"),
    (78, "Санкт-Петербург", "643", "Россия"),
    (16, "Республика Татарстан", "643", "Россия"),
    (66, "Свердловская область", "643", "Россия"),
)
SEGMENTS: tuple[tuple[int, str], ...] = (
    (801, "Интересовались доставкой"),
    (802, "Корзина > 10 000 ₽"),
    (803, "Из регионов"),
)
CUSTOM_PROPERTIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cart_total", ("0", "2490", "12900", "45000")),
    ("client_status", ("lead", "client", "vip")),
    ("city_selected", ("Москва", "Санкт-Петербург")),
)
SEARCH_PHRASES: tuple[str, ...] = (
    "купить диван недорого",
    "доставка мебели москва",
    "угловой диван доставка",
    "интернет магазин мебели",
    "шкаф купе на заказ",
)
PAGES: tuple[str, ...] = ("/", "/catalog/divany/", "/catalog/shkafy/", "/delivery/", "/contacts/", "/sale/")
ATTRIBUTES: tuple[str, ...] = (
    "first",
    "through",
    "primary",
    "secondary",
    "lost",
    "target",
    "off-target",
    "quality",
    "rest",
)

#: The client users an agent may act as (get.customer_users).
CUSTOMER_USERS: tuple[dict[str, Any], ...] = (
    {
        "id": 700101,
        "login": "moscow-office",
        "description": "Головной офис",
        "name": "Компания «Ромашка», Москва",
        "customer_id": 40101,
    },
    {
        "id": 700102,
        "login": "spb-office",
        "description": "Филиал в Санкт-Петербурге",
        "name": "Компания «Ромашка», Санкт-Петербург",
        "customer_id": 40101,
    },
    {
        "id": 700103,
        "login": "online-shop",
        "description": None,
        "name": "Интернет-магазин «Василёк»",
        "customer_id": 40103,
    },
)

#: The user's configurable reports (get.reports_list); ``get.uploaded_calls`` takes one's id as ``report_id``.
REPORTS: tuple[dict[str, Any], ...] = (
    {
        "id": 2,
        "type": "summary_analytics",
        "name": "Анализ трафика",
        "description": None,
        "group_id": 6,
        "sort": 200,
        "is_mobile": False,
        "is_editable": False,
        "is_favorite": True,
        "date_time_added_to_favorite": "2025-08-20 13:54:07",
    },
    {
        "id": 5,
        "type": "calls",
        "name": "Звонки",
        "description": "Звонки аккаунта целиком",
        "group_id": 1,
        "sort": 100,
        "is_mobile": True,
        "is_editable": False,
        "is_favorite": True,
        "date_time_added_to_favorite": "2025-09-02 10:11:45",
    },
    {
        "id": 7,
        "type": "communications",
        "name": "Обращения",
        "description": None,
        "group_id": 1,
        "sort": 110,
        "is_mobile": True,
        "is_editable": False,
        "is_favorite": False,
        "date_time_added_to_favorite": None,
    },
    {
        "id": 9,
        "type": "chats",
        "name": "Чаты",
        "description": None,
        "group_id": 1,
        "sort": 120,
        "is_mobile": False,
        "is_editable": False,
        "is_favorite": False,
        "date_time_added_to_favorite": None,
    },
    {
        "id": 12,
        "type": "call_summary",
        "name": "Сводка по звонкам",
        "description": None,
        "group_id": 3,
        "sort": 300,
        "is_mobile": False,
        "is_editable": False,
        "is_favorite": False,
        "date_time_added_to_favorite": None,
    },
    {
        "id": 1041,
        "type": "calls",
        "name": "Загруженные звонки",
        "description": "Звонки из CRM, загруженные через upload.calls",
        "group_id": 9,
        "sort": 900,
        "is_mobile": False,
        "is_editable": True,
        "is_favorite": True,
        "date_time_added_to_favorite": "2026-01-12 09:30:00",
    },
    {
        "id": 1042,
        "type": "leads",
        "name": "Заявки за неделю",
        "description": "Пользовательский отчёт отдела продаж",
        "group_id": 9,
        "sort": 910,
        "is_mobile": False,
        "is_editable": True,
        "is_favorite": False,
        "date_time_added_to_favorite": None,
    },
)

#: Address-book contacts: (contact id, full name).
CONTACTS: tuple[tuple[int, str], ...] = (
    (20001, "Сергей Белов"),
    (20002, "Мебель-Опт, оптовый покупатель"),
    (20003, "Ирина Карпова"),
    (20004, "Алексей Фомин"),
    (20005, "Гусева Татьяна"),
)

#: Chat channels of the account: (channel id, channel type, name). Types are those chat messages document too.
CHAT_CHANNELS: tuple[tuple[int, str, str], ...] = (
    (5001, "comagic", "Онлайн-консультант на сайте"),
    (5002, "whatsapp", "WhatsApp отдела продаж"),
    (5003, "telegram", "Telegram-бот магазина"),
    (5004, "vkontakte_groups", "Группа ВКонтакте"),
    (5005, "avito", "Авито: объявления"),
    (5006, "telegram_private", "Telegram менеджера"),
)
#: What visitors and employees write, and what the system adds, in chats.
VISITOR_LINES: tuple[str, ...] = (
    "Здравствуйте! Диван из каталога есть в наличии?",
    "Сколько стоит доставка в Химки?",
    "Можно в рассрочку?",
    "Спасибо, подумаю",
    "Когда привезут заказ 4512?",
    "Отправил фото, посмотрите, пожалуйста",
)
OPERATOR_LINES: tuple[str, ...] = (
    "Добрый день! Да, в наличии, могу оформить заказ.",
    "Доставка по области — 990 ₽, занос — по договорённости.",
    "Рассрочка есть на 6 и 12 месяцев без переплаты.",
    "Передам вопрос в службу доставки, ответим в течение часа.",
    "Подскажите, пожалуйста, номер телефона для связи.",
)
SYSTEM_LINES: tuple[str, ...] = ("Посетитель покинул чат", "Чат передан другому сотруднику", "Чат завершён")
INVITE_LINES: tuple[str, ...] = (
    "Здравствуйте! Помочь подобрать диван?",
    "Сегодня скидка 10% на диваны — спросите меня!",
)

#: Goals set up in the account: (name, type, source, external goal id).
GOALS: tuple[tuple[str, str, str, str | None], ...] = (
    ("Добавление в корзину", "track_event", "comagic", None),
    ("Клик по номеру телефона", "click", "comagic", None),
    ("Прокрутка до отзывов", "scroll", "comagic", None),
    ("3 минуты на сайте", "time_on_site", "comagic", None),
    ("Просмотр страницы доставки", "link", "comagic", None),
    ("Оформление заказа", "ppc_goal", "yandex.metrika", "ym-2904512"),
    ("Отправка формы обратной связи", "track_event", "google.analytics", "ga-lead-form"),
)
#: Forms that take offline messages: (form name, printed form type).
FORMS: tuple[tuple[str, str], ...] = (
    ("Обратная связь", "Standard"),
    ("Заявка на замер", "Custom"),
    ("Заказ из CRM", "DataAPI"),
)
OFFLINE_TEXTS: tuple[str, ...] = (
    "Хочу заказать диван, перезвоните, пожалуйста",
    "Нужен замер шкафа-купе в эту субботу",
    "Где мой заказ? Номер 4512",
    "Есть ли скидки для многодетных?",
)
VISITOR_NAMES: tuple[str | None, ...] = ("Анна", "Дмитрий", "Ольга", "Игорь", "Татьяна", None)
