"""Build the method catalog (``uis_provider/protocol/catalog.json``) from the vendor reference, and the docs' data
dictionary (``docs/data-dictionary.md``) from the catalog.

``METHODS.md`` beside this script is the sourced reference of the twelve read methods (every column with its
Filter / Sort / Default flags, read from the CallGear, CoMagic and Novofon pages; copied from the team's shared
``uis-api/METHODS.md``). This script reads its tables and writes them as data; the few facts the pages do not state
(which time field a window selects on, how a number is stored in parquet) are the tables at the top of this file,
each marked as ours in the catalog. Where two sources disagree on a flag, the catalog takes the reading that allows
more, so a value the API may accept is never refused.

    python scripts/catalog/build.py           # rewrite both files
    python scripts/catalog/build.py --check   # exit 1 when either is out of date (tests/protocol/test_catalog.py)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REFERENCE = HERE / "METHODS.md"
CATALOG = REPO / "uis_provider" / "protocol" / "catalog.json"
DICTIONARY = REPO / "docs" / "data-dictionary.md"

#: The field each windowed method's ``date_from``/``date_till`` select on. Only get.uploaded_calls states it
#: (``upload_time``); for the reports it is our reading: the record's own start or date-time column.
WINDOW_FIELDS: dict[str, tuple[str, bool]] = {
    "get.calls_report": ("start_time", False),
    "get.call_legs_report": ("start_time", False),
    "get.communications_report": ("date_time", False),
    "get.chats_report": ("date_time", False),
    "get.chat_messages_report": ("date_time", False),
    "get.offline_messages_report": ("date_time", False),
    "get.goals_report": ("date_time", False),
    "get.financial_call_legs_report": ("start_time", False),
    "get.uploaded_calls": ("upload_time", True),
}
#: The longest window a method takes, in days, and whether its page states it. The general section's
#: "3 months" error applies to report methods ("not all of them"): 90 days is the safe reading; chat messages
#: state 30 days; get.uploaded_calls states none.
MAX_WINDOW_DAYS: dict[str, tuple[int | None, bool]] = {
    "get.chat_messages_report": (30, True),
    "get.uploaded_calls": (None, True),
}
REPORT_MAX_DAYS = 90
#: Columns the pages call unique per record (METHODS.md section 3).
UNIQUE: dict[str, tuple[str, ...]] = {
    "get.calls_report": ("id", "communication_id", "ext_id"),
    "get.call_legs_report": ("id",),
    "get.communications_report": ("id",),
    "get.chats_report": ("id", "communication_id", "ext_id"),
    "get.chat_messages_report": ("id",),
    "get.offline_messages_report": ("id", "communication_id", "ext_id"),
    "get.goals_report": ("id",),
    "get.financial_call_legs_report": ("leg_id",),
    "get.uploaded_calls": ("ext_id",),
    "get.customer_users": ("id",),
    "get.reports_list": ("id",),
    "get.account": (),
}
#: The sortable column that is unique per record and always filled, so sorting by it alone pages a query
#: without a skip or a repeat (METHODS.md section 3, "stable paging key"). ``ext_id`` of the reports is the
#: client's own id, not always filled: not a key.
PAGING_KEYS: dict[str, str] = {
    "get.uploaded_calls": "ext_id",
    "get.financial_call_legs_report": "leg_id",
    "get.reports_list": "id",
}
#: Numbers that are amounts or ratings (may have a fraction): float64 in parquet. Other numbers are ids, counts
#: and seconds: int64.
FLOAT_NUMBERS = frozenset(
    {
        "sale_cost",
        "cost_per_minute",
        "total_charge",
        "bonuses_charge",
        "employee_rating",
        "employee_raiting",
        "last_answered_employee_rating",
    }
)
#: Numbers that are phone numbers: kept as text in parquet (a leading + or 0 must not be lost).
TEXT_NUMBERS = frozenset({"visitor_phone_number"})
#: What REFERENCE.md adds to a page's parameter table: agents act for a client with ``user_id`` on every call
#: ("Agents (partners) act for a client by adding user_id to every call"); get.account's page lists only
#: ``access_token``, so both readings are accepted. get.customer_users says outright it has no ``user_id``.
EXTRA_PARAMS: dict[str, list[dict[str, Any]]] = {
    "get.account": [
        {
            "name": "user_id",
            "type": "number",
            "required": False,
            "condition": None,
            "notes": "not on the page; REFERENCE.md: agents add user_id to every call (both readings accepted)",
        }
    ],
}
#: The parameter table of get.account is a sentence on its page.
ACCOUNT_PARAMS = [
    {"name": "access_token", "type": "string", "required": True, "condition": None, "notes": "the only one listed"}
]

_CODE = re.compile(r"`([^`]+)`")
_LEADING_CODES = re.compile(r"^\s*((?:`[^`]+`\s*,\s*)*`[^`]+`)")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _tables(lines: list[str]) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table in ``lines``: its header cells and its rows."""
    tables = []
    index = 0
    while index < len(lines):
        if lines[index].startswith("|") and index + 1 < len(lines) and re.match(r"^\|[\s|:-]+\|$", lines[index + 1]):
            header = _cells(lines[index])
            rows = []
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                rows.append(_cells(lines[index]))
                index += 1
            tables.append((header, rows))
        else:
            index += 1
    return tables


def _flag(cell: str) -> bool | None:
    """A Filter / Sort / Default cell: True if any source says yes, None for n/a, else False."""
    if cell == "n/a":
        return None
    return "yes" in cell


def _name(cell: str) -> str:
    match = _CODE.search(cell)
    if not match:
        raise ValueError(f"no `name` in cell {cell!r}")
    return match.group(1)


def _type(cell: str) -> str:
    kind = cell.split("(")[0].strip()
    return "number" if kind == "id" else kind


def _children(cell: str) -> tuple[list[dict[str, Any]], str | None]:
    """Nested children ``[{name, type, values}]`` and, for arrays of scalars, what the items are."""
    if not cell:
        return [], None
    if cell.startswith("array of"):
        return [], cell.split("(")[0].replace("array of", "").strip()
    children = []
    for part in cell.split(";"):
        match = re.match(r"\s*`([^`]+)`\s+(\w+)(?:\s*\(([^)]*)\))?", part)
        if not match:
            continue
        values = []
        if match.group(3) and "description" not in match.group(3):
            values = [value.strip() for value in match.group(3).split(",")]
        children.append({"name": match.group(1), "type": match.group(2), "values": values})
    return children, None


def _values(cell: str, kind: str, item_kind: str | None) -> tuple[list[str], bool]:
    """The codes an enum (or an array of codes) may hold, and whether the page gave them as codes."""
    if kind != "enum" and item_kind != "codes":
        return [], True
    printed = re.match(r"^printed as `([^`]+)`", cell)
    if printed:
        return [value.strip() for value in printed.group(1).split(",")], False
    match = _LEADING_CODES.match(cell)
    return (_CODE.findall(match.group(1)) if match else []), True


def _storage_kind(name: str, kind: str) -> str:
    if kind == "boolean":
        return "bool"
    if kind in ("array", "object"):
        return "json"
    if kind == "number":
        if name in FLOAT_NUMBERS:
            return "float64"
        return "string" if name in TEXT_NUMBERS else "int64"
    return "string"


def _only(notes: str) -> str | None:
    match = re.search(r"\*\*(RU|EN) only\*\*", notes)
    return match.group(1) if match else None


def _finish_reasons(text: str) -> list[str]:
    """The union of the shared, EN-only and RU-only finish_reason codes of one section's value list."""
    codes: list[str] = []
    start = text.find("**finish_reason values")
    for line in text[start:].splitlines() if start >= 0 else []:
        if line.startswith(("**finish_reason values", "- Only on")):
            line = line.split(":", 1)[1]
        elif not line.startswith("`"):
            continue
        codes.extend(code for code in _CODE.findall(line) if code not in codes)
    return codes


def _columns(rows: list[list[str]], finish_reasons: list[str]) -> list[dict[str, Any]]:
    columns = []
    for row in rows:
        _number, name_cell, type_cell, f_cell, s_cell, d_cell, nested_cell, notes = row
        name = _name(name_cell)
        kind = _type(type_cell)
        children, item_kind = _children(nested_cell)
        values, are_codes = _values(notes, kind, item_kind)
        if name == "finish_reason":
            values = finish_reasons
        column: dict[str, Any] = {
            "name": name,
            "type": kind,
            "kind": _storage_kind(name, kind),
            "filterable": bool(_flag(f_cell)),
            "sortable": bool(_flag(s_cell)),
            "default": _flag(d_cell),
            "children": children,
            "items": item_kind,
            "values": values,
            "values_are_codes": are_codes,
            "only": _only(notes),
            "flags": f"{f_cell} / {s_cell} / {d_cell}",
            "notes": notes,
        }
        columns.append(column)
    if all(column["default"] is None for column in columns):
        # no Default column on the page: the example reply shows every column
        for column in columns:
            column["default"] = True
    return columns


def _params(rows: list[list[str]]) -> list[dict[str, Any]]:
    params = []
    for name_cell, type_cell, required_cell, notes in rows:
        required = required_cell.strip("*")
        params.append(
            {
                "name": _name(name_cell),
                "type": type_cell,
                "required": required == "yes",
                "condition": None if required in ("yes", "no") else required_cell.replace("**", ""),
                "notes": notes,
            }
        )
    return params


def _sources(section: str) -> dict[str, str]:
    match = re.search(r"\*\*Sources:\*\*(.*?)\n\n", section, re.S)
    if not match:
        raise ValueError("a method section without **Sources:**")
    sources = {}
    for part in match.group(1).replace("\n", " ").split(" · "):
        found = re.match(r"\s*(EN|RU|NF|UIS)\s+(https://\S+)", part)
        if found:
            sources[found.group(1)] = found.group(2)
    return sources


def parse_reference(text: str) -> list[dict[str, Any]]:
    """The twelve methods of METHODS.md as catalog entries, in the reference's order."""
    paths = {}
    for header, rows in _tables(text.split("## 2. Methods")[0].splitlines()):
        if header[:2] == ["method", "path under `/data_api/`"]:
            paths = {row[0]: _name(row[1]) for row in rows}
    body = text.split("## 2. Methods", 1)[1].split("## 3. ", 1)[0]
    methods = []
    for section in re.split(r"^### ", body, flags=re.M)[1:]:
        heading = section.splitlines()[0]
        match = re.match(r"2\.\d+ (get\.\w+) — (.*)", heading)
        if not match:
            continue
        name, title = match.groups()
        tables = _tables(section.splitlines())
        params: list[dict[str, Any]] = []
        columns: list[dict[str, Any]] = []
        for header, rows in tables:
            if header[0] == "name":
                params = _params(rows)
            elif header[:2] == ["#", "column"]:
                columns = _columns(rows, _finish_reasons(section))
        if name == "get.account":
            params = list(ACCOUNT_PARAMS)
        params.extend(EXTRA_PARAMS.get(name, []))
        access = re.search(r"\*\*Access:\*\*\s*(.*?)(?:\s{2,}|\n)", section)
        weight_stated = bool(re.search(r"\*\*Weight: 1 point\*\*", section))
        window = None
        if name in WINDOW_FIELDS:
            field, field_stated = WINDOW_FIELDS[name]
            max_days, max_stated = MAX_WINDOW_DAYS.get(name, (REPORT_MAX_DAYS, False))
            window = {"field": field, "field_stated": field_stated, "max_days": max_days, "max_days_stated": max_stated}
        names = [column["name"] for column in columns]
        for field in (*UNIQUE[name], PAGING_KEYS.get(name, names[0] if names else "")):
            if field and field not in names:
                raise ValueError(f"{name}: {field} is not a column")
        if window and window["field"] not in names:
            raise ValueError(f"{name}: window field {window['field']} is not a column")
        methods.append(
            {
                "name": name,
                "title": title,
                "path": paths[name],
                "sources": _sources(section),
                "access": access.group(1).strip() if access else "",
                "weight": 1,
                "weight_stated": weight_stated,
                "window": window,
                "unique": list(UNIQUE[name]),
                "paging_key": PAGING_KEYS.get(name),
                "params": params,
                "columns": columns,
            }
        )
    return methods


def build_catalog(text: str) -> str:
    """The catalog file's text: the reference's methods as JSON (stable layout, one trailing newline)."""
    document = {
        "about": (
            "The UIS Data API read methods as the vendor documents them; generated by scripts/catalog/build.py "
            "from scripts/catalog/METHODS.md. Do not edit by hand."
        ),
        "methods": parse_reference(text),
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _mark(value: bool | None) -> str:
    return "yes" if value else "no"


def build_dictionary(methods: list[dict[str, Any]]) -> str:
    """The data dictionary page: per method its window, paging, parameters and every column with its flags."""
    out = [
        "# Data dictionary",
        "",
        "Every read method of the UIS Data API that the provider knows, as the vendor documents it: the columns a",
        "reply can hold, their types, which may be filtered (F) or sorted (S) on, which the API returns when `fields`",
        "is not sent (D), and how each column is typed in parquet output. Generated from the method catalog",
        "(`uis_provider/protocol/catalog.json`, built from the vendor's pages by `scripts/catalog/build.py`); do not",
        "edit by hand. Where the vendor's pages disagree, the flag shown is the one that allows more, and the",
        "notes say so.",
        "",
        "The extract operators refuse, before any API call, a column the method does not have, a filter on a column",
        "that is not F and a sort on one that is not S; without `fields` they land the D columns",
        "(`UISUploadedCallsToStorageOperator` lands every column). CSV and JSON lines keep values as the API sent",
        "them; parquet columns have the type shown, the same in every window.",
        "",
        "| method | window field | longest window | paging | columns (default) |",
        "|---|---|---|---|---|",
    ]
    for method in methods:
        window = method["window"]
        columns = method["columns"]
        defaults = sum(1 for column in columns if column["default"])
        anchor = method["name"].replace(".", "")
        if window:
            field = f"`{window['field']}`" + ("" if window["field_stated"] else " (our reading)")
            longest = f"{window['max_days']} days" if window["max_days"] else "not limited"
        else:
            field, longest = "no window", "none"
        out.append(
            f"| [`{method['name']}`](#{anchor}) | {field} | {longest} | {_paging_text(method)} | "
            f"{len(columns)} ({defaults}) |"
        )
    for method in methods:
        out += ["", f"## {method['name']}", "", f"{method['title'][0].upper()}{method['title'][1:]}.", ""]
        out.append("Source: " + " · ".join(f"[{tag}]({url})" for tag, url in method["sources"].items()) + ".")
        out.append(f"Access: {method['access']} Weight: {method['weight']} point per call.")
        out += ["", "| parameter | type | required | notes |", "|---|---|---|---|"]
        for param in method["params"]:
            required = "yes" if param["required"] else (param["condition"] or "no")
            out.append(f"| `{param['name']}` | {param['type']} | {_cell(required)} | {_cell(param['notes'])} |")
        out += [
            "",
            "| column | type | parquet | F | S | D | nested | values / notes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for column in method["columns"]:
            nested = "; ".join(f"`{child['name']}` {child['type']}" for child in column["children"])
            if column["items"]:
                nested = f"array of {column['items']}"
            out.append(
                f"| `{column['name']}` | {column['type']} | {column['kind']} | {_mark(column['filterable'])} | "
                f"{_mark(column['sortable'])} | {_mark(column['default'])} | {_cell(nested)} | "
                f"{_cell(column['notes'])} |"
            )
    return "\n".join(out) + "\n"


def _paging_text(method: dict[str, Any]) -> str:
    if method["paging_key"]:
        return f"offset, sorted by `{method['paging_key']}`"
    window = method["window"]
    if window is None:
        return "offset"
    time_field = next(column for column in method["columns"] if column["name"] == window["field"])
    return f"by `{window['field']}`" if time_field["sortable"] else "window split to one page"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the generated files are out of date")
    args = parser.parse_args()
    catalog = build_catalog(REFERENCE.read_text(encoding="utf-8"))
    dictionary = build_dictionary(json.loads(catalog)["methods"])
    stale = [path for path, text in ((CATALOG, catalog), (DICTIONARY, dictionary)) if not _same(path, text)]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO)} is out of date: run python scripts/catalog/build.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in ((CATALOG, catalog), (DICTIONARY, dictionary)):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def _same(path: Path, text: str) -> bool:
    return path.exists() and path.read_text(encoding="utf-8") == text


if __name__ == "__main__":
    sys.exit(main())
