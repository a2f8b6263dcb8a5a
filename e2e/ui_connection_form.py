"""The Airflow UI's connection form in headless Chromium: add ``uis`` connections as a person does, then "Test" them.

Labels, the type's display name and the extra fields are read from the provider's own ``get_provider_info()``, so the
form is driven by what the provider declares. Airflow 3.3.2's "Test" button posts ``port: 0`` for a connection with
no port and its API then refuses to reuse the stored password (apache/airflow#73298, fixed after 3.3.2): the first
click is checked to fail exactly that way, later clicks go out with the stored empty port, as the fix treats them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, Route, sync_playwright
from stack import E2EFailure

from uis_provider.get_provider_info import get_provider_info

log = logging.getLogger("e2e")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 1000}
TEST_URL_SUFFIX = "/api/v2/connections/test"
PORT_BUG_DETAIL = "The host or port to test differs from the stored connection"


@dataclass(frozen=True)
class ConnectionInput:
    """What a person types into the form for one connection (``login`` only for login/password auth)."""

    conn_id: str
    host: str
    password: str
    login: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class TestOutcome:
    """What the API answered to one "Test" click and what the toast showed the person."""

    conn_id: str
    status: bool
    message: str
    toast: str


@dataclass
class FormReport:
    """Screenshots taken, one outcome per tested connection, and whether Airflow's port-0 bug showed up."""

    screenshots: list[Path] = field(default_factory=list)
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    port_bug_seen: bool = False


def _uis_type() -> dict[str, Any]:
    types = get_provider_info()["connection-types"]
    return dict(next(t for t in types if t["connection-type"] == "uis"))


def _send_stored_empty_port(route: Route) -> None:
    body = route.request.post_data_json
    if isinstance(body, dict) and body.get("port") == 0:
        body["port"] = None
    route.continue_(post_data=json.dumps(body))


class ConnectionForm:
    """The connections page of one Airflow UI in one browser page."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        meta = _uis_type()
        self.type_name: str = meta["hook-name"]
        self.labels: dict[str, str] = meta["ui-field-behaviour"]["relabeling"]
        self.extra_labels = {name: spec["label"] for name, spec in meta["conn-fields"].items()}

    def open(self) -> None:
        """Go to Admin > Connections."""
        self.page.goto(f"{self.base_url}/connections")
        self.page.get_by_role("button", name="Add Connection").wait_for()

    def add(self, conn: ConnectionInput, screenshots: tuple[Path, Path] | None = None) -> None:
        """Fill the "Add Connection" dialog for ``conn`` and save it; optionally screenshot it filled (two sections)."""
        self.page.get_by_role("button", name="Add Connection").click()
        dialog = self.page.get_by_role("dialog")
        dialog.get_by_label("Connection ID").fill(conn.conn_id)
        dialog.get_by_role("combobox").fill(self.type_name.split()[0])
        self.page.get_by_role("option", name=self.type_name, exact=True).click()
        dialog.get_by_label(self.labels["host"], exact=True).fill(conn.host)
        if conn.login is not None:
            dialog.get_by_label(self.labels["login"], exact=True).fill(conn.login)
        dialog.get_by_label(self.labels["password"], exact=True).fill(conn.password)
        if conn.user_id is not None:
            self._section(dialog, "Extra Fields").click()
            dialog.get_by_label(self.extra_labels["user_id"]).fill(str(conn.user_id))
        if screenshots is not None:
            main, extra = screenshots
            if conn.user_id is not None:
                self._shoot(dialog, extra)
            self._section(dialog, "Standard Fields").click()
            dialog.get_by_label(self.labels["host"], exact=True).wait_for()
            self._shoot(dialog, main)
        dialog.get_by_role("button", name="Save").click()
        dialog.wait_for(state="hidden")
        self.row(conn.conn_id).wait_for()
        log.info("saved connection %s through the form", conn.conn_id)

    def row(self, conn_id: str) -> Locator:
        """The list row of one connection."""
        cell = self.page.get_by_role("cell", name=conn_id, exact=True)
        return self.page.get_by_role("row").filter(has=cell)

    def test(self, conn_id: str) -> tuple[int, dict[str, Any], str]:
        """Click the row's "Test Connection" button: the API's status code and body, and the toast's text."""
        with self.page.expect_response(lambda r: r.url.endswith(TEST_URL_SUFFIX)) as answer:
            self.row(conn_id).get_by_role("button", name="Test Connection").click()
        response = answer.value
        body = response.json()
        shown = str(body.get("message")) if response.status == 200 else "Test Connection"
        toast = self.page.get_by_role("status").filter(has_text=shown).last
        toast.wait_for()
        return response.status, body, toast.inner_text()

    @staticmethod
    def _section(dialog: Locator, name: str) -> Locator:
        return dialog.get_by_role("button", name=name, exact=True)

    def _shoot(self, dialog: Locator, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.wait_for_timeout(400)  # let the accordion finish its animation
        dialog.screenshot(path=str(path), animations="disabled")
        log.info("screenshot of the filled form: %s", path)


def exercise_connection_form(
    base_url: str,
    connections: list[ConnectionInput],
    *,
    screenshots: tuple[Path, Path],
    user_data_dir: Path,
) -> FormReport:
    """Add every connection through the form (screenshots of the first), then click "Test" on each."""
    report = FormReport(screenshots=list(screenshots))
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            device_scale_factor=1,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            form = ConnectionForm(page, base_url)
            form.open()
            for index, conn in enumerate(connections):
                form.add(conn, screenshots if index == 0 else None)
            report.port_bug_seen = _probe_port_bug(form, connections[0].conn_id)
            if report.port_bug_seen:
                page.route(f"**{TEST_URL_SUFFIX}", _send_stored_empty_port)
            for conn in connections:
                status, body, toast = form.test(conn.conn_id)
                if status != 200:
                    raise E2EFailure(f"Test of {conn.conn_id} answered HTTP {status}: {body}; toast {toast!r}")
                outcome = TestOutcome(conn.conn_id, bool(body["status"]), str(body["message"]), toast)
                report.outcomes[conn.conn_id] = outcome
                log.info("Test %s -> %s", conn.conn_id, toast.replace("\n", " | "))
        finally:
            context.close()
    return report


def _probe_port_bug(form: ConnectionForm, conn_id: str) -> bool:
    """Click "Test" as shipped: ``True`` when it fails with Airflow's port-0 refusal, ``False`` when it works."""
    status, body, toast = form.test(conn_id)
    if status == 200:
        return False
    if status == 400 and PORT_BUG_DETAIL in str(body.get("detail")):
        log.info("Airflow's Test button sent port 0 for a portless connection (apache/airflow#73298): %r", toast)
        return True
    raise E2EFailure(f"the first Test of {conn_id} answered HTTP {status}: {body}; toast {toast!r}")
