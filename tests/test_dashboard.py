"""The run dashboard in a real browser (headless chromium through Playwright) against
`invoicing serve`: logging in with a token, a run with a failed invoice, its reason and
the Retry button, a run watched until it completes, the merged PDF downloaded and read
with pypdf, the pages on a laptop and on a phone (screenshots kept in the test's
folder); a wrong token and a form without its CSRF token refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from pypdf import PdfReader
from sqlalchemy import create_engine, text

from tests.support import envs
from tests.support.browser import LAPTOP, PHONE, chromium, form_login, log_in, shot
from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.server import Server, make_token, wait_for_run

FINISHED = 300_000  # ms: a hang guard for a page that follows a run (returns once it is done)
# A run's status once it is no longer rendering or merging, whichever it is: a page that
# follows a run waits for this, then the test says which status it means.
FINAL_STATUS = "main .card .status:first-child:not(.rendering):not(.merging)"


def set_locale(env: Env, account: str, locale: str) -> None:
    engine = create_engine(env.vars["INVOICING_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE subscribers SET locale = :locale WHERE account = :account"),
            {"locale": locale, "account": account},
        )
    engine.dispose()


class Site:
    def __init__(self, server: Server, write: str, read: str, run: dict[str, Any], shots: Path) -> None:
        self.server, self.write, self.read, self.run, self.shots = server, write, read, run, shots
        self.env = server.env


def run_link(site: Site) -> str:
    return f"/dashboard/runs/{site.run['run_id']}"


def final_status(page: Page) -> str:
    """The run page's status, once the run is finished (the page reloads itself until then)."""
    page.wait_for_selector(FINAL_STATUS, timeout=FINISHED)
    return page.inner_text(FINAL_STATUS)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The fixtures with A-0003's invoice failing (a locale nobody knows), a write and a
    read token, a server, and October's run started through the API, finished with errors.

    The tests share it and leave October's run as it is: a test that needs another state
    (a run to retry, a run that completes) makes its own run and sets the data it needs."""
    env = envs.embedded(tmp_path_factory.mktemp("dashboard"))
    seed_fixtures(env)
    set_locale(env, "A-0003", "xx_XX")
    write, read = make_token(env, "billing-team", "write"), make_token(env, "auditor", "read")
    server = Server(env).start()
    try:
        with server.client(write) as client:
            run = wait_for_run(client, client.post("/runs", json={"period": "2026-10"}).json()["run_id"])
        assert run["status"] == "completed_with_errors", run
        yield Site(server, write, read, run, env.path / "screenshots")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_wrong_token_is_refused(site: Site, browser: Browser) -> None:
    # given
    context = browser.new_context(viewport=LAPTOP)
    # when
    page = log_in(context, site.server.url, "inv_not-a-token")
    shot(page, site.shots, "login-refused")
    # then
    assert (
        page.url.endswith("/dashboard/login")
        and page.inner_text("[role=alert]") == "Unknown or revoked token."
    )
    context.close()


def test_the_runs_page_lists_the_run_with_its_failure_count(site: Site, browser: Browser) -> None:
    # given
    context = browser.new_context(viewport=LAPTOP)
    # when
    page = log_in(context, site.server.url, site.read)
    shot(page, site.shots, "runs-laptop")
    # then
    row = page.locator("table.runs tbody tr", has=page.locator(f"a[href='{run_link(site)}']")).inner_text()
    assert "2026-10" in row and "completed with errors" in row and "1 failed" in row
    context.close()


def test_the_runs_page_fits_a_phone(site: Site, browser: Browser) -> None:
    # given
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    # when
    page = log_in(context, site.server.url, site.read)
    shot(page, site.shots, "runs-phone")
    # then nothing is wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


def test_the_session_cookie_is_httponly_and_samesite_strict(site: Site, browser: Browser) -> None:
    # given
    context = browser.new_context()
    # when
    log_in(context, site.server.url, site.read)
    # then
    cookie = next(c for c in context.cookies() if c["name"] == "invoicing_session")
    assert (cookie["httpOnly"], cookie["sameSite"], site.read in cookie["value"]) == (True, "Strict", False)
    context.close()


def test_a_read_token_sees_the_failure_and_no_retry_button(site: Site, browser: Browser) -> None:
    # given
    context = browser.new_context(viewport=LAPTOP)
    page = log_in(context, site.server.url, site.read)
    # when
    page.goto(f"{site.server.url}/dashboard/runs/{site.run['run_id']}")
    # then
    retry = page.locator("button", has_text="Retry")
    assert "unknown locale 'xx_XX'" in page.inner_text("main") and retry.count() == 0
    context.close()


def test_a_form_posted_without_its_csrf_token_is_refused(site: Site) -> None:
    # given a session logged in through the form
    with httpx.Client(base_url=site.server.url, follow_redirects=True) as client:
        form_login(client, site.write)
        # when the retry form is posted without it
        response = client.post(f"/dashboard/runs/{site.run['run_id']}/retry", data={})
    # then
    assert response.status_code == 403 and "did not come from this site" in response.text


def test_the_merged_pdf_downloads_whole(site: Site, browser: Browser, tmp_path: Path) -> None:
    # given
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = log_in(context, site.server.url, site.read)
    page.goto(f"{site.server.url}/dashboard/runs/{site.run['run_id']}")
    name = Path(site.run["output"]).name
    # when
    with page.expect_download() as download:
        page.click(f"text={name}")
    saved = tmp_path / name
    download.value.save_as(saved)
    # then it holds every invoice rendered
    assert len(PdfReader(saved).pages) == 18 and saved.read_bytes() == Path(site.run["output"]).read_bytes()
    context.close()


def test_an_invoice_page_shows_its_data_and_pdf(site: Site, browser: Browser) -> None:
    # given
    context = browser.new_context(viewport=LAPTOP)
    page = log_in(context, site.server.url, site.read)
    # when
    page.goto(f"{site.server.url}/dashboard/invoices/INV-2026-10-000001")
    shot(page, site.shots, "invoice")
    # then
    assert "A-0001" in page.inner_text("main") and page.locator("iframe.pdf").count() == 1
    context.close()


def test_retry_after_the_data_is_corrected_completes_the_run(site: Site, browser: Browser) -> None:
    # given a run of its own (September) failed on A-0003's locale, the data then corrected
    set_locale(site.env, "A-0003", "xx_XX")
    with site.server.client(site.write) as client:
        failed = wait_for_run(client, client.post("/runs", json={"period": "2026-09"}).json()["run_id"])
    assert (failed["status"], failed["failed"]) == ("completed_with_errors", 1), failed
    set_locale(site.env, "A-0003", "de_DE")
    context = browser.new_context(viewport=LAPTOP)
    page = log_in(context, site.server.url, site.write)
    page.goto(f"{site.server.url}/dashboard/runs/{failed['run_id']}")
    shot(page, site.shots, "run-failed")
    # when Retry is pressed
    page.click("button:has-text('Retry')")
    status = final_status(page)
    shot(page, site.shots, "run-retried")
    # then the run is complete, with every invoice
    with site.server.client(site.read) as client:
        final = client.get(f"/runs/{failed['run_id']}").json()
    assert (status, final["status"], final["failed"], final["invoices"]) == ("completed", "completed", 0, 19)
    context.close()


def test_a_run_is_watched_until_it_completes(site: Site, browser: Browser) -> None:
    # given every subscriber's data renderable, and November's run started through the API
    set_locale(site.env, "A-0003", "de_DE")
    with site.server.client(site.write) as client:
        run_id = client.post("/runs", json={"period": "2026-11"}).json()["run_id"]
    context = browser.new_context(viewport=LAPTOP)
    page = log_in(context, site.server.url, site.read)
    # when its page is open
    page.goto(f"{site.server.url}/dashboard/runs/{run_id}")
    shot(page, site.shots, "run-open")
    # then it reloads itself until the run is complete
    status = final_status(page)
    shot(page, site.shots, "run-completed")
    assert (
        status,
        page.get_attribute("main .card progress", "value"),
        page.get_attribute("main .card progress", "max"),
    ) == (
        "completed",
        "19",
        "19",
    )
    context.close()


def test_a_revoked_token_ends_its_dashboard_sessions(site: Site) -> None:
    # given a session logged in with a token that is then revoked
    token = make_token(site.env, "temp", "read")
    with httpx.Client(base_url=site.server.url) as client:
        assert form_login(client, token).status_code == 303
        site.env.cli("token", "revoke", "temp", check=True)
        # when
        response = client.get("/dashboard")
    # then
    assert (response.status_code, response.headers["location"]) == (303, "/dashboard/login")
