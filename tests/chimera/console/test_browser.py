"""The console in a real Chromium (Playwright, Debian's binary) over a real pipeline: the
orchestrator holds two really rendered videos for approval; a reviewer approves one with an
edited title and rejects the other; a viewer and a form without its CSRF token get 403;
logged out, every page goes to the login. Screenshots of the main pages are written to
tests/artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from pydantic import SecretStr

from agents.audit.app import build as build_audit
from agents.generate.app import build as build_generate
from agents.generate.handlers import GenerateSettings
from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.publish.app import build as build_publish
from agents.publish.handlers import PublishAgentSettings
from chimera.access import kafka as kafka_access
from chimera.auth import users
from core.settings import Settings
from events import Topics, TrendDiscovered, encode
from tests.chimera.console.support import ARTEFACTS, PASSWORD, serving
from tests.conftest import Services, _admin, _delete_topics, _with_database, prefix_acls
from tests.support import produce, trend, wait_for

pytestmark = pytest.mark.slow
PAGES = [
    "/",
    "/trends",
    "/review",
    "/publications",
    "/deadletters",
    "/alerts",
    "/audit",
    "/replay",
    "/users",
]


@dataclass(frozen=True)
class Pipeline:
    """The running pipeline and console of this module."""

    base: str
    settings: Settings
    pool: asyncpg.Pool
    held: list[str]  # content ids waiting for approval, in a fixed order


@pytest.fixture(scope="module")
async def pipeline(
    services: Services,
    template_database: str,
    acl_template: list[kafka_access.Acl],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Pipeline]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    prefix = f"t{uuid.uuid4().hex[:10]}"
    await _admin(services.admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    tmp = tmp_path_factory.mktemp("console")
    # As the broker's super user; agents.build runs each agent as its own principal, with the
    # ACLs of this prefix (as the `topic_prefix` fixture gives a test).
    settings = services.kafka_settings(
        topic_prefix=prefix, state_dir=tmp / "state", media_dir=tmp / "media"
    ).model_copy(update={"database_url": SecretStr(_with_database(services.admin_dsn, name))})
    acls = prefix_acls(acl_template, prefix)
    kafka_access.apply(settings, acls)
    pool = await asyncpg.create_pool(settings.dsn(), min_size=1, max_size=4)
    assert pool is not None
    for user, role in (("rita", "reviewer"), ("vic", "viewer"), ("olga", "admin")):
        await users.add_user(pool, user, role, PASSWORD)
    topics = Topics(prefix)
    try:
        async with AsyncExitStack() as stack:
            for runtime in (
                build_audit(settings),
                build_orchestrator(
                    settings, Policy(platforms=["local"], approval_default="required")
                ),
                build_generate(
                    settings,
                    GenerateSettings(
                        resolution_scale=0.2, narrate=True, target_duration_s=10, preset="ultrafast"
                    ),
                ),
                build_publish(
                    settings,
                    PublishAgentSettings(poll_seconds=0.2, privacy="public", engagement_seconds=2),
                ),
            ):
                await stack.enter_async_context(runtime.running())
            injected = [
                TrendDiscovered.create(
                    trend(n, title=title, topic=title.lower(), tags=["tech", "explainer"]),
                    producer="test",
                )
                for n, title in ((1, "Solid-state batteries"), (2, "Tiny language models"))
            ]
            await produce(
                settings,
                topics.trends,
                [(e.payload.id.encode(), encode(e)) for e in injected]
                + [(b"feed:broken", b'{"event_type": "TrendDiscovered", "payload": 1}')],
            )

            async def held() -> bool:
                return await pool.fetchval("SELECT count(*) FROM reviews") == 2

            await wait_for(held, timeout=240, what="two rendered videos held for approval")
            ids = [
                r[0]
                for r in await pool.fetch(
                    """SELECT r.content_id FROM reviews r JOIN content c ON c.id = r.content_id
                       ORDER BY c.trend_id"""
                )
            ]
            base = await stack.enter_async_context(serving(settings))
            yield Pipeline(base, settings, pool, ids)
    finally:
        await pool.close()
        await _admin(services.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await _delete_topics(settings, prefix)
        kafka_access.revoke(settings, acls)


async def logged_in(browser: Browser, base: str, user: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("input[name=name]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("header .user")).to_have_text(user)
    return context, page


async def shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    # Posters are extracted on first request: wait until every image has arrived.
    await page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )
    await page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


async def test_logged_out_every_page_redirects_to_the_login(
    pipeline: Pipeline, browser: Browser
) -> None:
    context = await browser.new_context(base_url=pipeline.base)
    page = await context.new_page()
    for path in [*PAGES, f"/review/{pipeline.held[0]}"]:
        await page.goto(path)
        assert page.url.startswith(f"{pipeline.base}/login?next="), path
        await expect(page.locator("input[name=password]")).to_be_visible()
    await shot(page, "login")
    await context.close()
    async with httpx.AsyncClient(base_url=pipeline.base) as client:
        media = await client.get(f"/media/{pipeline.held[0]}/video.mp4")
        assert media.status_code == 303 and media.headers["location"].startswith("/login")
        posted = await client.post(f"/review/{pipeline.held[0]}/approve", data={"title": "x"})
        assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
        health = await client.get("/health")
        assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_a_reviewer_sees_the_video_and_approves_it_with_an_edited_title(
    pipeline: Pipeline, browser: Browser
) -> None:
    context, page = await logged_in(browser, pipeline.base, "rita")
    await page.goto("/review")
    await expect(page.locator(".tile")).to_have_count(2)
    await shot(page, "review-queue")
    first = pipeline.held[0]
    await page.click(f".tile[data-content='{first}']")
    # The player has loaded real media: metadata and at least the current frame.
    await page.wait_for_function(
        "() => document.getElementById('player').readyState >= 2", timeout=20_000
    )
    duration = await page.evaluate("() => document.getElementById('player').duration")
    assert duration > 1
    await expect(page.locator("ol.script li").first).to_be_visible()
    await expect(page.locator("table.captions tr").first).to_be_visible()
    # For the picture: the whole (small) file buffered, so no loading spinner over the frame.
    await page.wait_for_function(
        "() => document.getElementById('player').readyState === 4", timeout=20_000
    )
    await shot(page, "review-detail")

    await page.fill("#approve-form input[name=title]", "Batteries, approved in the browser")
    await page.click("#approve-form button[type=submit]")
    await expect(page.locator("#outcome")).to_contain_text("applied: approved by rita")

    async def on_the_publications_page() -> bool:
        await page.goto("/publications")
        titles = await page.locator(".pub-title").all_inner_texts()
        statuses = await page.locator(".publication .state-published").count()
        return "Batteries, approved in the browser" in titles and statuses == 1

    await wait_for(on_the_publications_page, timeout=30, what="the approved publication")
    row = await pipeline.pool.fetchrow(
        "SELECT title, status FROM publications WHERE content_id = $1", first
    )
    assert dict(row) == {"title": "Batteries, approved in the browser", "status": "published"}
    await shot(page, "publications")
    await context.close()


async def test_a_reviewer_rejects_another_with_a_reason(
    pipeline: Pipeline, browser: Browser
) -> None:
    context, page = await logged_in(browser, pipeline.base, "rita")
    second = pipeline.held[1]
    await page.goto(f"/review/{second}")
    await page.fill("#reject-form input[name=reason]", "the footage does not match the topic")
    await page.click("#reject-form button[type=submit]")
    await expect(page.locator("#outcome")).to_contain_text("applied: rejected by rita")
    await expect(page.locator(".pill.state-rejected").first).to_be_visible()
    state, reason = await pipeline.pool.fetchrow(
        "SELECT state, reason FROM workflows WHERE content_id = $1", second
    )
    assert (
        state == "declined" and reason == "rejected by rita: the footage does not match the topic"
    )
    assert (
        await pipeline.pool.fetchval(
            "SELECT count(*) FROM publications WHERE content_id = $1", second
        )
        == 0
    )
    # Deciding again is refused before anything is sent: the state is checked first.
    token = await page.locator("header input[name=csrf_token]").get_attribute("value")
    again = await page.request.post(
        f"/review/{second}/approve", form={"csrf_token": token or "", "title": "again"}
    )
    assert again.status == 409 and "already rejected by rita" in await again.text()
    await context.close()


async def test_a_viewer_gets_403_on_approve(pipeline: Pipeline, browser: Browser) -> None:
    context, page = await logged_in(browser, pipeline.base, "vic")
    await page.goto(f"/review/{pipeline.held[1]}")
    await expect(page.locator("#approve-form")).to_have_count(0)
    token = await page.locator("header input[name=csrf_token]").get_attribute("value")
    answer = await page.request.post(
        f"/review/{pipeline.held[1]}/approve", form={"csrf_token": token or "", "title": "mine"}
    )
    assert answer.status == 403
    assert "needs the reviewer role" in await answer.text()
    await page.goto("/users")
    await expect(page.locator("h1")).to_have_text("Forbidden")
    await context.close()


async def test_a_form_posted_without_its_csrf_token_gets_403(
    pipeline: Pipeline, browser: Browser
) -> None:
    context, page = await logged_in(browser, pipeline.base, "olga")
    await page.goto("/users")
    add = page.locator("form.decide").first
    await add.locator("input[name=name]").fill("mallory")
    await add.locator("input[name=password]").fill(PASSWORD)
    await add.locator("input[name=csrf_token]").evaluate("el => el.remove()")
    async with page.expect_response(re.compile(r"/users$")) as posted:
        await add.locator("button[type=submit]").click()
    assert (await posted.value).status == 403
    await expect(page.locator(".error-card")).to_contain_text("security token")
    assert await pipeline.pool.fetchval("SELECT count(*) FROM users WHERE name = 'mallory'") == 0
    # A wrong token is refused as well; the right one works.
    wrong = await page.request.post("/users", form={"csrf_token": "forged", "op": "disable"})
    assert wrong.status == 403
    await context.close()


async def test_screenshots_of_the_main_pages(pipeline: Pipeline, browser: Browser) -> None:
    context, page = await logged_in(browser, pipeline.base, "olga")

    async def audited() -> bool:  # the console's own actions reached the audit sink
        return bool(
            await pipeline.pool.fetchval(
                "SELECT count(*) FROM audit_logs WHERE agent_id = 'console' AND action = 'login'"
            )
        )

    await wait_for(audited, what="console audit rows")

    async def measured() -> bool:  # a few engagement snapshots for the chart
        return bool(await pipeline.pool.fetchval("SELECT count(*) >= 3 FROM engagement"))

    await wait_for(measured, what="engagement snapshots")
    for path in PAGES:
        answer = await page.goto(path)
        assert answer is not None and answer.status == 200, path
        await shot(page, "overview" if path == "/" else path.strip("/"))
    await page.goto("/replay?agent=orchestrator&to=earliest")
    await expect(page.locator("text=record(s) would be replayed")).to_be_visible()
    await shot(page, "replay-plan")
    await page.goto("/audit?actor=rita")
    await expect(page.locator("table.audit code", has_text="review:approved").first).to_be_visible()
    await shot(page, "audit-rita")
    letter = page.locator("a[href^='/deadletters/']").first
    await page.goto("/deadletters")
    await letter.click()
    await expect(page.locator("pre.payload")).to_contain_text("TrendDiscovered")
    await shot(page, "deadletter")
    await context.close()
