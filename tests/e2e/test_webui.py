"""The web UI in a real browser (the system's Chromium, driven by Playwright) against a real
`ordinaut up`: sign in, preview and create a task, run it now and read the run's output,
pause it, and see a bad schedule refused with its reason."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.slow
StartUp = UpProcess = Any  # the fixtures of tests/e2e/conftest.py
SECRET = "ord_0123456789abcdef_webui-test-admin-secret"
# the flags this machine's Chromium needs headless as root, with no network to phone home to
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str:
    found = os.environ.get("ORDINAUT_CHROMIUM") or shutil.which("chromium")
    if found is None:
        message = "Chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("ORDINAUT_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (ORDINAUT_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, chromium_sandbox=False
        )
        yield launched
        launched.close()


@pytest.fixture
def up(start_up: StartUp, tmp_path: Path) -> Iterator[UpProcess]:
    with start_up(tmp_path, ORDINAUT_ADMIN_SECRET=SECRET) as running:
        running.wait_live()
        yield running


def signed_in(browser: Browser, up: UpProcess) -> Page:
    page = browser.new_page()
    page.goto(f"{up.url}/ext/webui/")
    page.fill("#secret", "ord_0123456789abcdef_not-the-secret")
    page.click("#sign-in button")
    expect(page.locator("#sign-in-error")).to_contain_text("Could not sign in")
    page.fill("#secret", SECRET)
    page.click("#sign-in button")
    expect(page.locator("#app-view")).to_be_visible()
    return page


def test_a_person_creates_runs_and_pauses_a_task(browser: Browser, up: UpProcess) -> None:
    page = signed_in(browser, up)
    page.fill("#new-task [name=title]", "browser task")
    page.fill("#new-task [name=schedule_expr]", "0 9 * * 1-5")
    page.fill("#new-task [name=timezone]", "Europe/Chisinau")
    page.click("#preview")
    expect(page.locator("#preview-list li")).to_have_count(5)
    expect(page.locator("#preview-list li").first).to_contain_text("09:00")
    page.click("#new-task button[type=submit]")
    row = page.locator("#tasks tr", has_text="browser task")
    expect(row.locator(".status")).to_have_text("active")

    row.get_by_role("button", name="run now").click()
    expect(page.locator("#detail-title")).to_have_text("browser task")
    expect(page.locator("#upcoming li")).to_have_count(5)
    expect(page.locator("#upcoming li").first).to_contain_text("09:00")
    expect(page.locator("#runs .ok")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#runs pre").first).to_contain_text('"message": "hello"')

    row.get_by_role("button", name="pause").click()
    expect(row.locator(".status")).to_have_text("paused")


def test_a_bad_schedule_is_refused_with_its_reason(browser: Browser, up: UpProcess) -> None:
    page = signed_in(browser, up)
    page.fill("#new-task [name=title]", "never")
    page.fill("#new-task [name=schedule_expr]", "61 * * * *")
    page.click("#new-task button[type=submit]")
    expect(page.locator("#form-error")).to_contain_text("61")
    expect(page.locator("#tasks tr", has_text="never")).to_have_count(0)


def test_only_the_page_and_its_files_are_public(up: UpProcess) -> None:
    with httpx.Client(base_url=up.url) as http:
        assert http.get("/ext/webui/").status_code == 200
        assert http.get("/ext/webui/static/app.js").status_code == 200
        assert http.get("/ext/webui/static/../plugin.py").status_code in (401, 404)
        assert http.post("/ext/webui/").status_code == 401
        assert http.get("/tasks").status_code == 401
