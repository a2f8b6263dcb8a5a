"""Tests of the emulator's HTTP server, lifecycle, request log, faults and command line, over loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.testing.conftest import KEY, make, post, rpc
from uis_provider.testing import UISEmulator, emulator

REPO = Path(__file__).resolve().parents[2]


def test_non_post_is_405_and_post_answers_json_with_charset(api: UISEmulator) -> None:
    assert requests.get(api.url, timeout=10).status_code == 405
    response = requests.post(
        api.url,
        json={"jsonrpc": "2.0", "id": "a-1", "method": "get.account", "params": {"access_token": KEY}},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.json()["id"] == "a-1"


def test_keep_alive_serves_several_requests_on_one_connection(api: UISEmulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    sockets = []
    try:
        for call_id in (1, 2, 3):
            body = json.dumps(
                {"jsonrpc": "2.0", "id": call_id, "method": "get.account", "params": {"access_token": KEY}}
            )
            connection.request("POST", "/v2.0", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            assert json.loads(response.read())["id"] == call_id
            assert not response.will_close
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert sockets[0] is sockets[1] is sockets[2]
    assert api.count("get.account") == 3


def test_request_log(api: UISEmulator) -> None:
    rpc(api.url, "get.account", {"access_token": KEY}, call_id=9)
    rpc(api.url, "get.account", {"access_token": "nope"}, call_id=10)
    requests.get(api.url, timeout=10)
    log = api.requests
    assert [(e["method"], e["id"], e["error"], e["points"], e["http_status"]) for e in log] == [
        ("get.account", 9, None, 1, 200),
        ("get.account", 10, "access_token_invalid", 0, 200),
        (None, None, None, 0, 405),
    ]
    assert log[0]["params"] == {"access_token": KEY}
    assert api.count() == 2 and api.count("login.user") == 0
    api.reset_log()
    assert api.requests == [] and api.count() == 0


def test_stop_closes_the_port() -> None:
    api = make().start()
    port = api.port
    assert post(api).status_code == 200
    api.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_until_sigterm() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uis_provider.testing.emulator",
            "--port",
            str(port),
            "--calls",
            "300",
            "--api-key",
            "cli-key",
            "other-key",
            "--timezone",
            "Asia/Novosibirsk",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == f"UIS emulator listening on http://127.0.0.1:{port}/v2.0"
        answer = rpc(f"http://127.0.0.1:{port}/v2.0", "get.account", {"access_token": "cli-key"})
        assert answer["result"]["data"][0]["timezone"] == "Asia/Novosibirsk"
        assert "result" in rpc(f"http://127.0.0.1:{port}/v2.0", "get.account", {"access_token": "other-key"})
        assert "error" in rpc(f"http://127.0.0.1:{port}/v2.0", "get.account", {"access_token": "test-api-key"})
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "RuntimeWarning" not in err


def test_cli_start_lines_say_how_to_connect_and_what_is_served() -> None:
    """Issue 21 item 13: the key, the login, the data range and the time zone are printed, and they are the truth."""
    command = [sys.executable, "-m", "uis_provider.testing.emulator", "--port", "0", "--calls", "400"]
    command += ["--chats-per-day", "7"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(7)]
        url = lines[0].rsplit(" ", 1)[-1]
        fields = dict(line.strip().split(":", 1) for line in lines[1:])
        key = fields["API key(s)"].split()[0]
        login, password = (part.strip() for part in fields["login.user"].split("/"))
        assert "400 uploaded calls, upload times from 2026-01-01 00:00 to 2026-02-01 00:00" in fields["data"]
        assert fields["time zone"].split()[0] == "Europe/Moscow"
        account = rpc(url, "get.account", {"access_token": key})["result"]["data"][0]
        assert account["timezone"] == "Europe/Moscow"
        assert "access_token" in rpc(url, "login.user", {"login": login, "password": password})["result"]["data"]
        params = {"access_token": key, "date_from": "2026-01-01 00:00:00", "date_till": "2026-02-01 00:00:00"}
        total = rpc(url, "get.uploaded_calls", {**params, "limit": 1})["result"]["metadata"]["total_items"]
        assert total == 400, "every generated call lies in the announced range"
        assert fields["reports"].strip().startswith("200 own calls with their legs, a day 7 chats, 10 goals, 3 offline")
        day = {"access_token": key, "date_from": "2026-01-04 00:00:00", "date_till": "2026-01-04 23:59:59"}
        chats = rpc(url, "get.chats_report", {**day, "limit": 1})["result"]["metadata"]["total_items"]
        assert chats == 7, "--chats-per-day reaches the emulator"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_cli_help_shows_the_defaults() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "uis_provider.testing.emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    for default in ("(default: 8765)", "(default: 5000)", "(default: 31)", "(default: Europe/Moscow)"):
        assert default in " ".join(help_text.split()), default
    assert "none given: test-api-key" in help_text


BUDGET_FLAGS = ["--port", "0", "--calls", "50", "--api-key", "cli-key"]
BUDGET_FLAGS += ["--minute-limit", "3", "--minute-window", "2", "--day-limit", "5"]


def test_cli_budget_flags_behave_as_the_reference_says() -> None:
    """``--minute-limit/--minute-window/--day-limit`` reach the served process: points for successful calls only,
    ``metadata.limits`` in every answer and error, a minute refusal that says when it resets."""
    command = [sys.executable, "-m", "uis_provider.testing.emulator", *BUDGET_FLAGS]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        params = {"access_token": "cli-key"}
        remaining = [rpc(url, "get.account", params)["result"]["metadata"]["limits"] for _ in range(3)]
        assert [limits["minute_remaining"] for limits in remaining] == [2, 1, 0]
        assert [limits["day_remaining"] for limits in remaining] == [4, 3, 2]
        assert all(limits["minute_limit"] == 3 and limits["day_limit"] == 5 for limits in remaining)
        assert all(1 <= limits["minute_reset"] <= 2 for limits in remaining), "the 2-second window"
        refused = rpc(url, "get.account", params)["error"]
        assert refused["code"] == -32029 and refused["data"]["mnemonic"] == "limit_exceeded"
        assert refused["data"]["params"] == {"limit_type": "minute", "limit_max_value": 3}
        limits = refused["data"]["metadata"]["limits"]
        assert limits["minute_remaining"] == 0 and limits["day_remaining"] == 2, "a refused call costs nothing"
        bad = rpc(url, "get.uploaded_calls", params)["error"]  # no dates: refused for its parameters, for free
        assert bad["data"]["metadata"]["limits"]["day_remaining"] == 2
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_cli_budget_flags_refill_the_minute_after_its_reset_but_not_the_day() -> None:
    """The same flags on the emulator's clock: the minute refills once its window has passed, the day does not."""
    settings = emulator._settings(BUDGET_FLAGS)
    settings.pop("warm")
    with UISEmulator(**settings) as api:
        params = {"access_token": "cli-key"}
        for _ in range(3):
            assert "result" in rpc(api.url, "get.account", params)
        refused = rpc(api.url, "get.account", params)["error"]
        assert refused["data"]["params"]["limit_type"] == "minute"
        assert 1 <= refused["data"]["metadata"]["limits"]["minute_reset"] <= 2
        api.clock.advance(2)  # the whole --minute-window: it has reset, whenever the first call fell in it
        answer = rpc(api.url, "get.account", params)
        assert answer["result"]["metadata"]["limits"]["day_remaining"] == 1
        assert "result" in rpc(api.url, "get.account", params)
        day = rpc(api.url, "get.account", params)["error"]
        assert day["data"]["params"] == {"limit_type": "day", "limit_max_value": 5}
        limits = day["data"]["metadata"]["limits"]
        assert limits["day_remaining"] == 0 and 86_000 < limits["day_reset"] <= 86_400
        assert limits["minute_remaining"] > 0, "the day refusal is not a minute one"
