"""Where a communication came from: the visitor, site, campaign, traffic source, UTM marks, deal and tags that
calls, chats, offline messages, goals and the communications report all carry.

One draw gives every such column (the union of the reports' blocks); each report keeps the ones it documents.
A communication the account could not tie to a site visit (a call to a static number, a messenger chat) has
``tracked=False``: its visitor and marketing columns are null and its arrays empty.
"""

from __future__ import annotations

import string
from typing import Any

from uis_provider.testing.data import CAMPAIGNS, SITES, Entropy
from uis_provider.testing.directory import (
    ATTRIBUTES,
    CABINET_USERS,
    CAMPAIGN_NAMES,
    CUSTOM_PROPERTIES,
    EMPLOYEE_NAMES,
    PAGES,
    PLACES,
    SEARCH_PHRASES,
    SEGMENTS,
    SITE_DOMAINS,
    SOURCES_BY_ID,
    TAG_NAMES,
    TRAFFIC_SOURCES,
    TrafficSource,
)
from uis_provider.testing.timefmt import DAY, format_local

#: Share (per mille) of each traffic source among tracked communications, in TRAFFIC_SOURCES order.
_SOURCE_WEIGHTS = (260, 120, 200, 90, 60, 50, 40, 180)
_DEVICES = (("desktop", 550), ("mobile", 380), ("tablet", 50), ("other", 20))
_REFERRERS = {"yandex": "yandex.ru", "google": "www.google.com"}
_SOCIAL_REFERRER = "vk.com"
_PARTNER_REFERRER = "mebel-obzor.ru"
_ENGINE_NAMES = {"yandex": "Яндекс", "google": "Google"}
_TOKEN = string.ascii_letters + string.digits + "_-"
#: Every column this module fills.
COLUMNS = (
    "communication_number",
    "communication_page_url",
    "ua_client_id",
    "ym_client_id",
    "sale_date",
    "sale_cost",
    "search_query",
    "search_engine",
    "referrer_domain",
    "referrer",
    "entrance_page",
    "gclid",
    "yclid",
    "ymclid",
    "ef_id",
    "channel",
    "site_id",
    "site_domain_name",
    "campaign_id",
    "campaign_name",
    "visit_other_campaign",
    "visitor_id",
    "person_id",
    "visitor_type",
    "visitor_session_id",
    "visits_count",
    "visitor_first_campaign_id",
    "visitor_first_campaign_name",
    "visitor_city",
    "visitor_region",
    "visitor_country",
    "visitor_device",
    "visitor_custom_properties",
    "segments",
    "utm_source",
    "utm_medium",
    "utm_term",
    "utm_content",
    "utm_campaign",
    "utm_referrer",
    "utm_expid",
    "openstat_ad",
    "openstat_campaign",
    "openstat_service",
    "openstat_source",
    "attributes",
    "eq_utm_source",
    "eq_utm_medium",
    "eq_utm_term",
    "eq_utm_content",
    "eq_utm_campaign",
    "eq_utm_referrer",
    "eq_utm_expid",
    "source_id",
    "source_name",
    "source_new",
    "channel_new",
    "channel_code",
)


def weighted(entropy: Entropy, choices: tuple[tuple[Any, int], ...]) -> Any:
    """One value of ``(value, weight)`` pairs, in proportion to the weights."""
    roll = entropy.below(sum(weight for _value, weight in choices))
    for value, weight in choices:
        if roll < weight:
            return value
        roll -= weight
    raise AssertionError("unreachable")


def token(entropy: Entropy, length: int) -> str:
    """A click-id-like token of URL-safe characters."""
    return "".join(_TOKEN[entropy.below(len(_TOKEN))] for _ in range(length))


def link_id(entropy: Entropy) -> str:
    """A recording link id as the reports print them (32 hex digits)."""
    return f"{entropy.below(1 << 128):032x}"


def money(entropy: Entropy, low: int, high: int) -> float:
    """An amount in roubles with kopecks, in ``[low, high)``."""
    return round(low + entropy.below((high - low) * 100) / 100, 2)


def tags(entropy: Entropy, moment: int, per_mille: int) -> list[dict[str, Any]]:
    """Tags set on a communication (all eight documented children), none for ``1 - per_mille / 1000`` of them."""
    result: list[dict[str, Any]] = []
    if not entropy.chance(per_mille):
        return result
    for _ in range(1 + entropy.below(2)):
        tag_id = entropy.pick(tuple(TAG_NAMES))
        manual = entropy.chance(550)
        user_id, login, employee_id = entropy.pick(CABINET_USERS)
        result.append(
            {
                "tag_id": tag_id,
                "tag_name": TAG_NAMES[tag_id],
                "tag_change_time": format_local(moment + 30 + entropy.below(3 * 3600)),
                "tag_type": "manual" if manual else "auto",
                "tag_user_id": user_id if manual else None,
                "tag_user_login": login if manual else None,
                "tag_employee_id": employee_id if manual else None,
                "tag_employee_full_name": EMPLOYEE_NAMES[employee_id] if manual else None,
            }
        )
    return result


def attribution(
    entropy: Entropy, moment: int, *, tracked: bool, visitor_types: tuple[str, ...], source_id: int | None = None
) -> dict[str, Any]:
    """Every column of ``COLUMNS`` for a communication at local ``moment``.

    ``visitor_types`` are the method's words for a new, a returning and an unknown visitor (the pages print
    them differently). ``source_id`` fixes the traffic source (an uploaded call's); otherwise it is drawn.
    """
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(visitor_custom_properties=[], segments=[], attributes=[])
    number = 1 + entropy.below(6) if entropy.chance(450) else 1
    row["communication_number"] = number
    row["attributes"] = _attributes(entropy, number)
    if entropy.chance(120):
        row["sale_date"] = format_local(moment + 3600 + entropy.below(10 * DAY))
        row["sale_cost"] = money(entropy, 990, 120_000)
    if not tracked:
        row["visitor_type"] = visitor_types[2]
        return row
    if source_id is None:
        source = weighted(entropy, tuple(zip(TRAFFIC_SOURCES, _SOURCE_WEIGHTS, strict=True)))
    else:
        source = SOURCES_BY_ID.get(source_id) or TRAFFIC_SOURCES[-1]
    site_id = entropy.pick(SITES)
    domain = SITE_DOMAINS[site_id]
    campaign_id = source.campaign_id
    if campaign_id == 101 and entropy.chance(400):
        campaign_id = 102
    visits = 1 if entropy.chance(450) else 2 + entropy.below(12)
    first_campaign = campaign_id if visits == 1 else entropy.pick(CAMPAIGNS)[0]
    city, region, country = entropy.pick(PLACES)
    page = entropy.pick(PAGES)
    row.update(
        channel=source.channel,
        site_id=site_id,
        site_domain_name=domain,
        campaign_id=campaign_id,
        campaign_name=CAMPAIGN_NAMES.get(campaign_id) if campaign_id else None,
        visit_other_campaign=visits > 1 and entropy.chance(300),
        visitor_id=3_000_000_000 + entropy.below(10**9),
        person_id=50_000_000 + entropy.below(10**7),
        visitor_type=visitor_types[0] if visits == 1 else visitor_types[1],
        visitor_session_id=9_000_000_000 + entropy.below(10**9),
        visits_count=visits,
        visitor_first_campaign_id=first_campaign,
        visitor_first_campaign_name=CAMPAIGN_NAMES.get(first_campaign) if first_campaign else None,
        visitor_city=city,
        visitor_region=region,
        visitor_country=country,
        visitor_device=weighted(entropy, _DEVICES),
        communication_page_url=f"https://{domain}{entropy.pick(PAGES)}",
        ua_client_id=f"{entropy.below(2**31)}.{1_700_000_000 + entropy.below(10**8)}" if entropy.chance(700) else None,
        ym_client_id=str(10**18 + entropy.below(9 * 10**18)) if entropy.chance(850) else None,
        source_id=source.id,
        source_name=source.name,
        source_new=source.source_new,
        channel_new=source.channel_new,
        channel_code=source.channel_code,
    )
    for _ in range(entropy.below(3)):
        name, values = entropy.pick(CUSTOM_PROPERTIES)
        if all(item["property_name"] != name for item in row["visitor_custom_properties"]):
            row["visitor_custom_properties"].append({"property_name": name, "property_value": entropy.pick(values)})
    for _ in range(entropy.below(3)):
        segment_id, segment_name = entropy.pick(SEGMENTS)
        if all(item["segment_id"] != segment_id for item in row["segments"]):
            row["segments"].append({"segment_id": segment_id, "segment_name": segment_name})
    _marks(entropy, row, source, domain, page, campaign_id)
    return row


def _attributes(entropy: Entropy, number: int) -> list[str]:
    codes = ["first" if number == 1 else "through", "primary" if entropy.chance(700) else "secondary"]
    if entropy.chance(550):
        codes.append("target" if entropy.chance(800) else "off-target")
    if entropy.chance(200):
        codes.append("quality")
    return [code for code in ATTRIBUTES if code in codes]


def _marks(
    entropy: Entropy, row: dict[str, Any], source: TrafficSource, domain: str, page: str, campaign_id: int | None
) -> None:
    """The search, referrer, click-id, UTM, openstat and extended-UTM columns of one traffic source."""
    phrase = entropy.pick(SEARCH_PHRASES)
    query = ""
    if source.channel == "paid":
        ad = 10_000_000 + entropy.below(90_000_000)
        row.update(
            utm_source=source.engine,
            utm_medium="cpc",
            utm_campaign=f"{campaign_id}_mebel",
            utm_term=phrase,
            utm_content=f"ad_{ad}",
            search_query=phrase,
            search_engine=_ENGINE_NAMES[str(source.engine)],
            referrer_domain=_REFERRERS[str(source.engine)],
        )
        if source.engine == "yandex":
            row["yclid"] = str(10**17 + entropy.below(9 * 10**17))
            if entropy.chance(300):
                row.update(
                    openstat_service="direct.yandex.ru",
                    openstat_campaign=str(campaign_id),
                    openstat_ad=str(ad),
                    openstat_source="search",
                )
        else:
            row["gclid"] = token(entropy, 40)
            if entropy.chance(400):
                row["ef_id"] = token(entropy, 26)
        query = f"?utm_source={row['utm_source']}&utm_medium=cpc&utm_campaign={row['utm_campaign']}"
    elif source.channel == "organic":
        row.update(search_engine=_ENGINE_NAMES[str(source.engine)], referrer_domain=_REFERRERS[str(source.engine)])
        if entropy.chance(300):
            row["search_query"] = phrase
    elif source.channel == "social":
        row.update(utm_source="vk", utm_medium="social", utm_campaign="group_post", referrer_domain=_SOCIAL_REFERRER)
        query = "?utm_source=vk&utm_medium=social&utm_campaign=group_post"
    elif source.channel == "email":
        row.update(utm_source="newsletter", utm_medium="email", utm_campaign="sale_2026")
        query = "?utm_source=newsletter&utm_medium=email&utm_campaign=sale_2026"
    elif source.channel == "referral":
        row["referrer_domain"] = _PARTNER_REFERRER
    if row["referrer_domain"]:
        row["referrer"] = f"https://{row['referrer_domain']}/"
    if row["utm_source"]:
        row["utm_referrer"] = row["referrer_domain"]
        if entropy.chance(100):
            row["utm_expid"] = f"{entropy.below(10**8)}-{entropy.below(10)}"
    if entropy.chance(40):
        row["ymclid"] = str(entropy.below(10**12))
    row["entrance_page"] = f"https://{domain}{page}{query}"
    engine = source.engine if source.channel == "organic" else None
    row.update(
        eq_utm_source=row["utm_source"]
        or engine
        or ("(direct)" if source.channel == "direct" else row["referrer_domain"]),
        eq_utm_medium=row["utm_medium"] or {"organic": "organic", "referral": "referral"}.get(source.channel, "(none)"),
        eq_utm_term=row["utm_term"] or row["search_query"],
        eq_utm_content=row["utm_content"],
        eq_utm_campaign=row["utm_campaign"] or "(not set)",
        eq_utm_referrer=row["referrer_domain"],
        eq_utm_expid=row["utm_expid"],
    )
