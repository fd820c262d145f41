"""A real browser for the dashboard's tests: Debian's chromium (.ci/run installs it),
driven by Playwright; logging in as a user does, and screenshots of each page."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


def log_in(context: BrowserContext, base_url: str, token: str) -> Page:
    """The login form filled in and sent; the page it leads to."""
    page = context.new_page()
    page.goto(f"{base_url}/dashboard/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page: Page, folder: Path, name: str) -> Path:
    """A full-page screenshot, kept in the test's folder to be looked at."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def form_login(client: httpx.Client, token: str) -> httpx.Response:
    """The login form sent as a browser sends it (its CSRF token from the form's page),
    without a browser: for what a browser would not send (a form without its CSRF token)."""
    form = client.get("/dashboard/login").text
    csrf = form.split('name="csrf" value="')[1].split('"')[0]
    return client.post("/dashboard/login", data={"csrf": csrf, "token": token})
