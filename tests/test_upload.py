"""The upload engine on its own: reading sources into checked calls and the batch loop, with a scripted hook."""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from uis_provider.exceptions import UISConfigurationError, UISError, UISInvalidParamsError, UISTransportError
from uis_provider.protocol.upload_plan import plan_batches, request_ids
from uis_provider.upload import UploadBatchError, read_file, read_list, send_batches


def call(n: int, **changes: Any) -> dict[str, Any]:
    return {"ext_id": f"e-{n:04d}", "is_lost": False, **changes}


@dataclass
class ScriptedHook:
    """Answers ``upload.calls`` from a script: a result dict or an exception per call, recording what was sent."""

    answers: list[Any]
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    settings: Any = field(default_factory=lambda: SimpleNamespace(endpoint="https://dataapi.example/v2.0"))
    session: Any = field(
        default_factory=lambda: SimpleNamespace(stats=SimpleNamespace(calls=0, logins=0, retries=0, waited=0.0))
    )

    def call(self, method: str, params: dict[str, Any], *, request_id: str) -> dict[str, Any]:
        assert method == "upload.calls"
        self.sent.append((request_id, params))
        answer = self.answers[len(self.sent) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


ACCEPTED = {"data": {"success": True}}


def planned(count: int, batch_size: int) -> tuple[list[Any], list[str]]:
    valid, invalid = read_list([call(n) for n in range(1, count + 1)])
    assert invalid == []
    batches = plan_batches(valid, batch_size=batch_size)
    return batches, request_ids("p", len(batches))


def test_a_list_is_checked_row_by_row_and_anything_else_is_refused() -> None:
    valid, invalid = read_list([call(1), "x", call(1)])
    assert [v.line for v in valid] == [1]
    assert [(i.line, i.reason.split(";")[0]) for i in invalid] == [
        (2, "a call must be a JSON object, got str"),
        (3, "ext_id 'e-0001' repeats line 1"),
    ]
    with pytest.raises(UISConfigurationError, match="calls must be a list of call objects, got dict"):
        read_list(call(1))


def test_a_gzipped_file_is_read_by_its_content_and_a_missing_one_is_named(tmp_path: Path) -> None:
    source = tmp_path / "calls.jsonl"
    with gzip.open(source, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(call(n)) + "\n" for n in range(1, 4))
    valid, invalid = read_file(str(source), None)
    assert ([v.line for v in valid], invalid) == ([1, 2, 3], [])
    with pytest.raises(UISConfigurationError, match="does not exist"):
        read_file(str(tmp_path / "absent.jsonl"), None)
    (tmp_path / "latin.csv").write_bytes(b"ext_id,is_lost\n\xe9,false\n")
    with pytest.raises(UISConfigurationError, match="is not UTF-8 text"):
        read_file(str(tmp_path / "latin.csv"), None)


def test_batches_go_in_order_under_their_ids_with_the_user_id(caplog: pytest.LogCaptureFixture) -> None:
    batches, ids = planned(5, batch_size=2)
    hook = ScriptedHook([ACCEPTED] * 3)
    caplog.set_level(logging.INFO, logger="uis_provider.upload")
    send_batches(hook, batches, ids, 42)  # type: ignore[arg-type]
    assert [request_id for request_id, _ in hook.sent] == ["p-0001", "p-0002", "p-0003"]
    assert [[c["ext_id"] for c in params["calls"]] for _, params in hook.sent] == [
        ["e-0001", "e-0002"],
        ["e-0003", "e-0004"],
        ["e-0005"],
    ]
    assert {params["user_id"] for _, params in hook.sent} == {42}
    assert "Batch 3/3 accepted: 1 call, line 5, request id p-0003" in caplog.text


def test_an_answer_without_success_stops_the_upload_and_a_task_retry_may_help() -> None:
    batches, ids = planned(4, batch_size=2)
    hook = ScriptedHook([{"data": {"success": False}}, ACCEPTED])
    with pytest.raises(UploadBatchError, match=r"answered batch 1 .* without success") as failure:
        send_batches(hook, batches, ids, None)  # type: ignore[arg-type]
    assert failure.value.retry_task
    assert "No batch was accepted; UIS refused batch 1; the 1 later batch(es) were not sent" in str(failure.value)
    assert len(hook.sent) == 1 and "user_id" not in hook.sent[0][1]


@pytest.mark.parametrize(
    ("error", "retry_task", "expected"),
    [
        (
            UISInvalidParamsError("bad time", field="calls[1].finish_time"),
            False,
            "The API names calls[1].finish_time: input line 4. Batch 1 was accepted (2 calls, request id p-0001); "
            "UIS refused batch 2. Fix the cause",
        ),
        (
            UISTransportError("connection reset"),
            True,
            "batch 2 may or may not have reached UIS. Retrying the task is safe",
        ),
        (UISError("refused"), False, "UIS refused batch 2. Fix the cause"),
    ],
)
def test_a_failed_batch_says_what_was_accepted_and_whether_retrying_helps(
    error: UISError, retry_task: bool, expected: str
) -> None:
    batches, ids = planned(4, batch_size=2)
    with pytest.raises(UploadBatchError) as failure:
        send_batches(ScriptedHook([ACCEPTED, error]), batches, ids, None)  # type: ignore[arg-type]
    assert failure.value.retry_task is retry_task
    assert "upload.calls failed for batch 2 of 2 (2 calls, lines 3-4, request id p-0002)" in str(failure.value)
    assert expected in str(failure.value)
