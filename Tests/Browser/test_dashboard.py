"""The dashboard in a real browser, against a real `stepwise dev` and a worker process on the
same store (see conftest.py). Each test leaves a screenshot named after it."""
import json
import re
import urllib.error
import urllib.request

from playwright.sync_api import expect


def mark(page):
    """Marks the document, so that a test can tell a live update from a reload."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page):
    return page.evaluate("window.__notReloaded === true")


def test_send_event_appears_live(dev, page, browser):
    # The dev server's root is the dashboard (it answered a JSON 404 before issue 12).
    page.goto(f"{dev.url}/")
    expect(page.locator("h1")).to_have_text("Events")
    mark(page)
    other = browser.new_page()
    other.goto(f"{dev.url}/send")
    other.locator("textarea[name=event]").fill(json.dumps({"name": "shop/checkout", "data": {"cartId": "cart-live-1"}}))
    other.get_by_role("button", name="Send event").click()
    expect(other.locator("h1")).to_contain_text("Event ")
    event_id = other.url.rsplit("/", 1)[1]
    other.close()
    expect(page.locator(f'tr[data-event-id="{event_id}"]')).to_be_visible(timeout=10_000)
    assert not_reloaded(page), "the new event appeared without a reload"


def test_send_form_shows_event_api_errors(dev, page):
    page.goto(f"{dev.url}/send")
    page.locator("textarea[name=event]").fill('{"name": "shop/bad"}')
    page.get_by_role("button", name="Send event").click()
    expect(page.get_by_role("alert")).to_contain_text("data")
    expect(page.locator("textarea[name=event]")).to_have_value('{"name": "shop/bad"}')


def test_timeline_fills_in(dev, page):
    event_id = dev.post_event({"name": "shop/checkout", "data": {"cartId": "cart-timeline"}})
    run = dev.wait_for_run(event_id)
    page.goto(f"{dev.url}/runs/{run['id']}")
    mark(page)
    expect(page.locator('[data-lane="render-receipt #1"]')).to_be_visible(timeout=20_000)
    expect(page.locator("#run-status [data-status]")).to_have_text("completed", timeout=20_000)
    expect(page.locator('[data-lane="reserve-stock #1"]')).to_be_visible()
    expect(page.locator('[data-lane="settle (sleep)"]')).to_be_visible()
    sent = page.locator('details[data-step="receipt-sent"] a')
    expect(sent).to_have_attribute("href", re.compile(r"/events/[0-9A-Z]{26}$"))
    page.locator('details[data-step="receipt-sent"] summary').click()
    expect(sent).to_be_visible()
    assert not_reloaded(page), "the timeline filled in without a reload"


def test_cancel_waiting_run(dev, page):
    event_id = dev.post_event({"name": "shop/approval.requested", "data": {"order": 1}})
    run = dev.wait_for_run(event_id, status="waiting")
    page.goto(f"{dev.url}/runs/{run['id']}")
    expect(page.locator("#run-status")).to_contain_text("waits in step “approval” for an event, until")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_role("status")).to_have_text("The run was cancelled.")
    expect(page.locator("#run-status [data-status]")).to_have_text("cancelled")
    assert dev.get_json(f"/v1/runs/{run['id']}")["data"]["status"] == "cancelled"


def test_rerun_failed_run(dev, page):
    event_id = dev.post_event({"name": "shop/charge", "data": {"amount": 12}})
    run = dev.wait_for_run(event_id, status="failed")
    page.goto(f"{dev.url}/runs/{run['id']}")
    expect(page.locator("#run-details")).to_contain_text("card declined")
    page.get_by_role("button", name="Rerun").click()
    expect(page.get_by_role("status")).to_contain_text(f"rerun of {run['id']}")
    expect(page.get_by_role("link", name=run["id"])).to_be_visible()
    new_id = page.url.split("/runs/", 1)[1].split("?", 1)[0]
    assert new_id != run["id"]
    assert dev.get_json(f"/v1/runs/{new_id}")["data"]["rerun_of"] == run["id"]


def test_filter_and_bulk_cancel(dev, page):
    ids = [dev.post_event({"name": "shop/approval.requested", "data": {"order": n}}) for n in range(3)]
    for event_id in ids:
        dev.wait_for_run(event_id, status="waiting")
    page.goto(f"{dev.url}/runs")
    page.locator("select[name=status]").select_option("waiting")
    page.locator("input[name=function]").fill("approve")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#run-rows tr[data-run-id]")).to_have_count(3)
    page.get_by_role("link", name="cancel them…").click()
    expect(page.locator("#bulk-count")).to_have_text("3")
    page.get_by_role("button", name="Cancel 3 runs").click()
    expect(page.locator("#run-rows")).to_contain_text("No runs.")
    for event_id in ids:
        assert dev.wait_for_run(event_id)["status"] == "cancelled"


def test_invoke_function(dev, page):
    page.goto(f"{dev.url}/functions")
    page.get_by_role("link", name="quote", exact=True).click()
    expect(page.locator("h1")).to_have_text("Function quote")
    page.locator("textarea[name=data]").fill('{"sku": ')
    page.get_by_role("button", name="Invoke quote").click()
    expect(page.get_by_role("alert")).to_contain_text("The payload is not JSON")
    expect(page.locator("textarea[name=data]")).to_have_value('{"sku": ')
    page.locator("textarea[name=data]").fill('{"sku": "9f08sdh84"}')
    page.get_by_role("button", name="Invoke quote").click()
    expect(page.get_by_role("status")).to_have_text("The function was invoked: this run is queued for a worker.")
    expect(page.locator("#run-invoked")).to_be_visible()
    expect(page.locator("#run-status [data-status]")).to_have_text("completed", timeout=20_000)
    expect(page.locator("#run-output")).to_contain_text("quoted 9f08sdh84")
    run_id = page.url.split("/runs/", 1)[1].split("?", 1)[0]
    run = dev.get_json(f"/v1/runs/{run_id}")["data"]
    event = dev.get_json(f"/v1/events/{run['event_id']}")["data"]
    assert event["name"] == "stepwise/function.invoked" and event["data"] == {"sku": "9f08sdh84"}


def test_environments_listed(dev, page):
    request = urllib.request.Request(
        f"{dev.url}/e/any-key", data=json.dumps({"name": "shop/branch", "data": {}}).encode(),
        headers={"Content-Type": "application/json", "x-inngest-env": "feature-branch"}, method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    page.goto(f"{dev.url}/environments")
    expect(page.locator('tr[data-environment="default"]')).to_be_visible()
    page.locator('tr[data-environment="feature-branch"]').get_by_role("link", name="feature-branch").click()
    expect(page.locator("header .env")).to_contain_text("feature-branch")
    expect(page.locator("main")).to_contain_text("shop/branch")
    page.goto(f"{dev.url}/environments")  # the screenshot: the list
    expect(page.locator('tr[data-environment="feature-branch"]')).to_contain_text("in use")


def test_script_payload_is_inert(dev, page):
    payload = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"
    event_id = dev.post_event({"name": "shop/hostile", "data": {"note": payload}})
    page.goto(f"{dev.url}/events/{event_id}")
    expect(page.locator("#event-data")).to_contain_text(payload)
    page.goto(f"{dev.url}/events")
    expect(page.locator(f'tr[data-event-id="{event_id}"]')).to_contain_text("<script>")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0


def test_post_without_csrf_token_refused(dev, page):
    event_id = dev.post_event({"name": "shop/approval.requested", "data": {"order": 99}})
    run = dev.wait_for_run(event_id, status="waiting")
    page.goto(f"{dev.url}/runs/{run['id']}")
    refused = page.request.post(f"{dev.url}/runs/{run['id']}/cancel", form={"do": "cancel"})
    assert refused.status == 403
    token = page.locator("input[name=_csrf]").first.get_attribute("value")
    cross_site = page.request.post(
        f"{dev.url}/runs/{run['id']}/cancel", form={"_csrf": token}, headers={"Origin": "http://evil.example"})
    assert cross_site.status == 403
    assert dev.get_json(f"/v1/runs/{run['id']}")["data"]["status"] == "waiting"
    page.set_content(refused.text())


def test_login_outside_dev_mode(production, page):
    page.goto(f"{production.url}/events")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.locator("input[name=key]").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Signing key not accepted.")
    try:
        urllib.request.urlopen(f"{production.url}/v1/events", timeout=10)
        raise AssertionError("the REST API answered without a signing key")
    except urllib.error.HTTPError as error:
        assert error.code == 401
    page.locator("input[name=key]").fill("signing-key-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Events")
    cookies = [c for c in page.context.cookies() if c["name"] == "stepwise_dashboard"]
    assert cookies and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
