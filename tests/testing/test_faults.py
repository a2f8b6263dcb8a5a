"""Scripted and random faults: what each kind does to an answer, what it costs, and that random ones are seeded."""

from __future__ import annotations

import json

import pytest
import requests

from tests.testing.conftest import KEY, make, post, rpc, upload_call
from uis_provider.testing import UISEmulator
from uis_provider.testing.emulator import HUGE_BYTES


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503"])
def test_http_status_faults(api: UISEmulator, kind: str) -> None:
    api.faults.script([kind])
    assert post(api).status_code == int(kind[-3:])
    assert post(api).json()["result"]["data"], "the script is used up"
    assert api.faults.injected == 1


def test_drop_and_timeout_close_without_answer(api: UISEmulator) -> None:
    api.faults.timeout_delay = 0.2
    body = {"jsonrpc": "2.0", "id": 1, "method": "get.account", "params": {"access_token": KEY}}
    with requests.Session() as session:
        assert session.post(api.url, json=body, timeout=10).status_code == 200
        api.faults.script(["drop", "timeout", "timeout"])
        with pytest.raises(requests.ConnectionError):
            session.post(api.url, json=body, timeout=10)
    with pytest.raises(requests.ConnectionError):
        post(api)
    with pytest.raises(requests.Timeout):
        post(api, timeout=0.05)
    assert [e["fault"] for e in api.requests] == [None, "drop", "timeout", "timeout"]
    assert [e["points"] for e in api.requests] == [1, 0, 0, 0]


def test_slow_still_answers(api: UISEmulator) -> None:
    api.faults.timeout_delay = 0.1
    api.faults.script(["slow"])
    assert post(api).json()["result"]["metadata"]["limits"]["minute_remaining"] == 2999
    assert api.requests[0]["fault"] == "slow"


def test_body_faults(api: UISEmulator) -> None:
    api.faults.script(["malformed", "not_jsonrpc", "deep", "huge"])
    response = post(api)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    assert post(api).json() == {"ok": 1}
    deep = post(api)
    assert deep.status_code == 200
    with pytest.raises(RecursionError):
        json.loads(deep.text)
    with post(api, stream=True) as huge:
        assert int(huge.headers["Content-Length"]) == HUGE_BYTES
        assert next(huge.iter_content(64)).startswith(b'{"jsonrpc":"2.0"')
    assert post(api).json()["result"]["data"]


@pytest.mark.parametrize(("kind", "limit_type"), [("limit_minute", "minute"), ("limit_day", "day")])
def test_limit_faults(api: UISEmulator, kind: str, limit_type: str) -> None:
    api.faults.script([kind])
    err = post(api).json()["error"]
    assert (err["code"], err["data"]["mnemonic"]) == (-32029, "limit_exceeded")
    assert err["data"]["params"]["limit_type"] == limit_type
    limits = err["data"]["metadata"]["limits"]
    assert limits[f"{limit_type}_remaining"] == 0 and limits[f"{limit_type}_reset"] >= 1


def test_internal_error_fault_changes_no_state(api: UISEmulator) -> None:
    api.faults.script(["internal_error"])
    answer = rpc(api.url, "upload.calls", {"access_token": KEY, "calls": [upload_call("f-1")]})
    assert (answer["error"]["code"], answer["error"]["data"]["mnemonic"]) == (-32603, "internal_error")
    assert api.pending_uploads() == [] and api.limits["minute_remaining"] == 3000
    assert api.count("upload.calls") == 1 and api.requests[0]["error"] == "internal_error"


def test_random_faults_are_seeded() -> None:
    outcomes = []
    for _ in range(2):
        with make() as api:
            api.faults.random(rate=0.5, kinds=["http_502", "internal_error"], seed=3)
            seen = []
            for _ in range(20):
                response = post(api)
                seen.append("502" if response.status_code == 502 else response.json().get("error", {}).get("code", 0))
            outcomes.append(seen)
            assert 0 < api.faults.injected < 20
            assert api.faults.injected == sum(1 for item in seen if item != 0)
            api.faults.clear()
            assert "result" in post(api).json()
    assert outcomes[0] == outcomes[1]
    with pytest.raises(ValueError):
        make().faults.script(["meteor"])
