"""A cron task created over HTTP in a running `ordinaut up` fires on its own and is recorded."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
SECRET = "ord_00112233445566ff_cron-end-to-end-secret"


def test_cron_task_fires_and_its_run_shows_step_outputs(tmp_path: Path, start_up) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {SECRET}"}
    task = {
        "title": "every two seconds",
        "schedule_kind": "cron",
        "schedule_expr": "*/2 * * * * *",  # the 6-field form: seconds first
        "payload": {
            "params": {"n": 7},
            "pipeline": [
                {
                    "id": "first",
                    "uses": "echo.message",
                    "with": {"message": {"n": "${params.n}", "at": "${now}"}},
                    "save_as": "one",
                },
                {
                    "id": "second",
                    "uses": "echo.message",
                    "with": {"message": "${steps.one.message.n}"},
                },
            ],
        },
    }
    with start_up(tmp_path, ORDINAUT_ADMIN_SECRET=SECRET) as up:
        up.wait_live()
        created = httpx.post(f"{up.url}/tasks", json=task, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        runs: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(runs) < 2:
            time.sleep(0.5)
            listed = httpx.get(
                f"{up.url}/runs", params={"task_id": task_id}, headers=headers, timeout=10
            )
            runs = listed.json()["items"]
    assert len(runs) >= 2, up.stderr
    run = runs[-1]
    assert run["success"] is True
    steps = run["output"]["steps"]  # type: ignore[index]
    assert [s["id"] for s in steps] == ["first", "second"]
    assert steps[0]["output"]["message"]["n"] == 7
    assert steps[1]["output"] == {"message": 7}
