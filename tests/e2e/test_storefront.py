"""The storefront in a real browser (Debian's Chromium through Playwright) on a real local mesh.

One mesh is started with the README's command (``scripts/run --port-offset``)
for the module; each person gets a browser context of their own (the app keeps
its token per tab). Screenshots of the main pages land in a temporary folder,
or in ``$SHOP_SCREENSHOTS`` (``SHOP_SCREENSHOTS=docs/screenshots`` refreshes the
README's). Every main page passes axe-core with no serious or critical
violation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect, sync_playwright

from mesh.issuer import LocalIssuer
from mesh.runner import free_offset
from mesh.token import CUSTOMER_SCOPES, known_scopes
from mesh.topology import load_topology
from tests.support.waiting import until_line

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
# The machine's closed network: no background fetches, no QUIC, no first-run work.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Starting a mesh and a browser on a busy 2-core machine can take a while.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def _needed(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing (scripts/test installs it)")
    pytest.skip(f"{what} is missing; run scripts/test to install it")


@dataclass
class Shop:
    url: str
    data: Path
    shots: Path

    def token(self, user: str, admin: bool = False) -> str:
        scopes = sorted(known_scopes()) if admin else list(CUSTOMER_SCOPES)
        return LocalIssuer.load_or_create(self.data).mint(user, scopes, 600)

    def call(self, method: str, path: str, user: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token(user, admin=user == 'admin')}"}
        answer = httpx.request(method, self.url + path, json=body, headers=headers, timeout=15)
        assert answer.status_code < 300, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    _needed("web/dist (the built storefront)", (ROOT / "web" / "dist" / "index.html").is_file())
    _needed("web/node_modules/axe-core", AXE.is_file())
    _needed("/usr/bin/chromium", CHROMIUM.is_file())
    offset = free_offset()
    base = tmp_path_factory.mktemp("storefront")
    out = base / "run.out"
    # No drain pause at the end: nothing balances load in front of a test's gateway.
    env = {
        **os.environ,
        "MESH_GATEWAY_WEB_ROOT": str(ROOT / "web" / "dist"),
        "MESH_GATEWAY_DRAIN_SECONDS": "0",
    }
    with out.open("w") as sink:
        process = subprocess.Popen(
            [
                str(ROOT / "scripts" / "run"),
                "--data-dir",
                str(base / "data"),
                "--port-offset",
                str(offset),
                # One replica each: the browser needs the shop, not its redundancy.
                *("--replicas=catalog=1", "--replicas=inventory=1", "--replicas=carts=1"),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    try:
        text = until_line(out, "Press Ctrl-C", process=process, timeout=240)
        url = f"http://127.0.0.1:{load_topology().services['gateway'].port + offset}"
        assert f"The storefront: {url}/" in text
        shots = Path(os.environ.get("SHOP_SCREENSHOTS") or base / "screenshots")
        shots.mkdir(parents=True, exist_ok=True)
        yield Shop(url, base / "data", shots)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def browser(shop: Shop) -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class Item:
    sku: str
    name: str


@pytest.fixture(scope="module")
def products(shop: Shop) -> dict[str, Item]:
    """Two products with stock, made through the API (the owner's UI is its own test)."""
    run = uuid.uuid4().hex[:6]
    items = {label: Item(f"{label}-{run}", f"{label.title()} {run}") for label in ("mug", "tea")}
    for item, (price, stock) in zip(items.values(), [(1250, 10), (499, 3)], strict=True):
        product = {
            "sku": item.sku,
            "displayName": item.name,
            "description": f"{item.name}, for the browser tests.",
            "price": {"currencyCode": "EUR", "amountMinor": price},
            "active": True,
        }
        shop.call("POST", "/v1/products", "admin", product)
        shop.call("PUT", f"/v1/stocks/{item.sku}", "admin", {"onHand": stock})
    return items


def signed_in(browser: Browser, shop: Shop, user: str) -> Page:
    """A new tab signed in as ``user`` through the local sign-in page (code + PKCE)."""
    page = browser.new_context(viewport={"width": 1100, "height": 760}).new_page()
    page.set_default_timeout(20_000)
    page.goto(shop.url + "/")
    page.get_by_role("banner").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Local sign-in")).to_be_visible()
    page.get_by_role("button", name=user, exact=True).click()
    expect(page.get_by_test_id("user")).to_contain_text(user)
    return page


def no_serious_violations(page: Page, what: str) -> None:
    # Evaluated through the DevTools protocol, which the page's CSP (no inline
    # scripts) does not govern: the app itself runs under that CSP unchanged.
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{what}: {serious}"


def shot(page: Page, shop: Shop, name: str) -> None:
    page.screenshot(path=str(shop.shots / f"{name}.png"), full_page=True)


def test_a_customer_orders_two_products_and_sees_the_status_change_live(
    browser: Browser, shop: Shop, products: dict[str, Item]
) -> None:
    started = time.monotonic()
    page = signed_in(browser, shop, "alice")
    main = page.get_by_role("main")

    # Browse and search: the search box filters the list as one types.
    mug, tea = products["mug"], products["tea"]
    page.get_by_role("searchbox", name="Search products").fill(tea.sku)
    expect(main.get_by_role("link", name=tea.name)).to_be_visible()
    expect(main.get_by_role("link", name=mug.name)).to_have_count(0)
    page.get_by_role("searchbox", name="Search products").fill("")
    expect(main.get_by_role("link", name=mug.name)).to_be_visible()
    shot(page, shop, "products")
    no_serious_violations(page, "product list")

    for item, quantity in ((mug, "2"), (tea, "5")):
        main.get_by_role("link", name=item.name).click()
        expect(page.get_by_test_id("stock")).to_contain_text("in stock")
        page.get_by_label("Quantity").fill(quantity)
        page.get_by_role("button", name="Add to cart").click()
        expect(main.get_by_text(f"Added {quantity} to your cart.")).to_be_visible()
        if item is mug:
            shot(page, shop, "product")
            no_serious_violations(page, "product page")
        page.get_by_role("navigation").get_by_role("link", name="Products").click()

    # Five teas but three in stock: the cart says so on the tea's line.
    page.get_by_role("navigation").get_by_role("link", name="Cart").click()
    expect(page.get_by_test_id("cart-total")).not_to_be_empty()
    page.get_by_role("button", name="Place order").click()
    tea_line = main.get_by_role("row").filter(has_text=tea.sku)
    expect(tea_line.get_by_role("alert")).to_contain_text("Only 3 left in stock")
    shot(page, shop, "cart-insufficient-stock")
    no_serious_violations(page, "cart with an error")
    page.get_by_label(f"Quantity of {tea.sku}").fill("1")
    page.get_by_label(f"Quantity of {tea.sku}").press("Enter")
    page.get_by_label(f"Quantity of {tea.sku}").blur()
    expect(tea_line.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_label(f"Quantity of {tea.sku}")).to_have_value("1")
    page.get_by_role("button", name="Place order").click()

    # The order page: awaiting payment, then cancelled by the owner elsewhere, seen over SSE.
    expect(page.get_by_role("heading", name="Order")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_contain_text("Pending payment")
    expect(page.get_by_test_id("live")).to_have_text("Updates live")
    order_id = page.url.rsplit("/", 1)[-1]
    shot(page, shop, "order")
    no_serious_violations(page, "order page")
    shop.call("POST", f"/v1/orders/{order_id}:cancel", "admin", {})
    expect(page.get_by_test_id("order-status")).to_contain_text("Cancelled", timeout=15_000)
    # A cancelled order is final: the server ends the stream and the page stops watching.
    expect(page.get_by_test_id("live")).to_contain_text("will not change")
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    expect(page.get_by_role("region", name="Payment")).to_have_count(0)
    shot(page, shop, "order-cancelled")

    page.get_by_role("navigation").get_by_role("link", name="Orders").click()
    expect(main.get_by_role("link", name=order_id)).to_be_visible()
    no_serious_violations(page, "order history")
    page.context.close()
    # The whole walk, sign-in to live status, stays quick.
    assert time.monotonic() - started < 90


def test_a_customer_pays_for_an_order_and_sees_it_paid_then_fulfilled_live(
    browser: Browser, shop: Shop, products: dict[str, Item]
) -> None:
    started = time.monotonic()
    page = signed_in(browser, shop, "bob")
    main = page.get_by_role("main")
    mug = products["mug"]
    # Every status the page shows, in order: Paid may last less than a poll of expect().
    page.add_init_script(STATUS_RECORDER)
    page.goto(f"{shop.url}/products/{mug.sku}")
    page.get_by_role("button", name="Add to cart").click()
    expect(main.get_by_text("Added 1 to your cart.")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Cart").click()
    page.get_by_role("button", name="Place order").click()
    status = page.get_by_test_id("order-status")
    expect(status).to_contain_text("Pending payment")
    expect(page.get_by_test_id("payment-deadline")).to_contain_text("left)")
    expect(page.get_by_test_id("test-cards")).to_contain_text("4242 4242 4242 4242")
    expect(page.get_by_test_id("live")).to_have_text("Updates live")
    order_id = page.url.rsplit("/", 1)[-1]

    # A declined test card: the reason beside the form, the order still awaits payment.
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill(str(time.gmtime().tm_year + 3))
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Pay").click()
    payment = main.get_by_role("region", name="Payment")
    expect(payment.get_by_role("alert")).to_contain_text("declined")
    expect(status).to_contain_text("Pending payment")
    assert shop.call("GET", f"/v1/orders/{order_id}", "bob")["status"] == "STATUS_PENDING_PAYMENT"
    shot(page, shop, "order-payment-declined")
    no_serious_violations(page, "order page with a declined payment")

    # The first try answers as the gateway does when orders is down (503); the
    # card travels in the POST body only, never in the address.
    sent: list[Request] = []

    def unavailable(route: Route) -> None:
        sent.append(route.request)
        route.fulfill(status=503, json={"code": 14, "message": "orders is unavailable"})

    page.route("**/v1/orders/*:confirmPayment", unavailable, times=1)
    # Keyboard only from the card number: type the good card, Enter submits.
    page.get_by_label("Card number").fill("")
    page.get_by_label("Card number").focus()
    page.keyboard.type("4242424242424242")
    page.keyboard.press("Enter")
    expect(payment.get_by_role("alert")).to_contain_text("orders is unavailable")
    assert [r.method for r in sent] == ["POST"]
    assert "4242" not in sent[0].url and "4242424242424242" in (sent[0].post_data or "")
    payment.get_by_role("button", name="Try again").click()
    expect(status).to_contain_text("Fulfilled", timeout=30_000)
    expect(page.get_by_test_id("live")).to_contain_text("will not change")
    seen = page.evaluate("() => window.__statuses")
    assert "STATUS_PAID" in seen, seen
    assert seen.index("STATUS_PAID") < seen.index("STATUS_FULFILLED"), seen
    expect(page.get_by_role("region", name="Payment")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    shot(page, shop, "order-fulfilled")
    no_serious_violations(page, "fulfilled order page")
    # The card number went in a POST body only: not in the address, nor in storage.
    assert "4242" not in page.url
    stored = page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert "4242424242424242" not in stored and "4000000000000002" not in stored

    page.get_by_role("navigation").get_by_role("link", name="Orders").click()
    row = main.get_by_role("row").filter(has=page.get_by_role("link", name=order_id))
    expect(row).to_contain_text("Fulfilled")
    page.context.close()
    assert time.monotonic() - started < 90


# Records each data-status the order page's status line takes, before the app starts.
STATUS_RECORDER = """
window.__statuses = [];
new MutationObserver(() => {
  const el = document.querySelector('[data-testid="order-status"]');
  const status = el && el.getAttribute('data-status');
  if (status && window.__statuses[window.__statuses.length - 1] !== status) {
    window.__statuses.push(status);
  }
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


def test_a_customer_cannot_see_another_customers_order(
    browser: Browser, shop: Shop, products: dict[str, Item]
) -> None:
    order = shop.call(
        "POST",
        "/v1/orders",
        "alice",
        {"requestId": uuid.uuid4().hex, "lines": [{"sku": products["mug"].sku, "quantity": 1}]},
    )
    order_id = order["name"].removeprefix("orders/")
    page = signed_in(browser, shop, "bob")
    page.goto(f"{shop.url}/orders/{order_id}")
    expect(page.get_by_role("heading", name="Order not found")).to_be_visible()
    expect(page.get_by_role("main")).not_to_contain_text(products["mug"].sku)
    shot(page, shop, "order-not-found")
    page.get_by_role("navigation").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name="Your orders")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("link", name=order_id)).to_have_count(0)
    page.context.close()


def test_the_owner_creates_a_product_and_sets_stock_and_the_customer_sees_it(
    browser: Browser, shop: Shop
) -> None:
    sku = f"lamp-{uuid.uuid4().hex[:6]}"
    owner = signed_in(browser, shop, "admin")
    owner.get_by_role("link", name="New product").click()
    owner.get_by_role("button", name="Create product").click()
    # The API's field violations, each next to its field.
    expect(owner.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(owner.locator("#new-name-error")).not_to_be_empty()
    no_serious_violations(owner, "new product form with errors")
    owner.get_by_label("Sku").fill(sku)
    owner.get_by_label("Name").fill("Desk lamp")
    owner.get_by_label("Description").fill("Warm light.")
    owner.get_by_label("Price").fill("39.90")
    owner.get_by_role("button", name="Create product").click()
    expect(owner.get_by_role("heading", name="Desk lamp")).to_be_visible()
    expect(owner.get_by_test_id("stock")).to_have_text("Out of stock")
    # An edit sends only the edited fields, named by the update mask.
    owner.get_by_label("Name").fill("Brass desk lamp")
    owner.get_by_role("button", name="Save product").click()
    expect(owner.get_by_role("heading", name="Brass desk lamp")).to_be_visible()
    owner.get_by_label("Units on hand").fill("7")
    owner.get_by_role("button", name="Set stock").click()
    expect(owner.get_by_text("Stock saved.")).to_be_visible()
    shot(owner, shop, "owner-product")
    no_serious_violations(owner, "owner's product page")

    customer = signed_in(browser, shop, "alice")
    customer.goto(f"{shop.url}/products/{sku}")
    expect(customer.get_by_test_id("stock")).to_have_text("7 in stock")
    expect(customer.get_by_text("€39.90")).to_be_visible()
    expect(customer.get_by_role("heading", name="Brass desk lamp")).to_be_visible()

    # The owner edits one field; the customer sees the change on the next visit.
    owner.get_by_label("Units on hand").fill("2")
    owner.get_by_role("button", name="Set stock").click()
    expect(owner.get_by_text("2 on hand")).to_be_visible()
    customer.reload()
    expect(customer.get_by_test_id("stock")).to_have_text("2 in stock")

    owner.get_by_role("navigation").get_by_role("link", name="All orders").click()
    expect(owner.get_by_role("heading", name="All orders")).to_be_visible()
    owner.context.close()
    customer.context.close()


def test_the_sign_in_page_and_signed_out_pages_are_accessible(browser: Browser, shop: Shop) -> None:
    page = browser.new_context().new_page()
    page.goto(shop.url + "/orders")
    expect(page.get_by_role("heading", name="Please sign in")).to_be_visible()
    no_serious_violations(page, "signed-out orders page")
    page.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Local sign-in")).to_be_visible()
    no_serious_violations(page, "local sign-in page")
    # Keyboard only: Tab to a user and Enter signs in and comes back where it started.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="alice")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your orders")).to_be_visible()
    page.context.close()


def test_a_checkout_whose_answer_was_lost_is_retried_into_the_same_order(
    browser: Browser, shop: Shop, products: dict[str, Item]
) -> None:
    def bobs_orders() -> list[str]:
        listed = shop.call("GET", "/v1/orders?pageSize=100", "bob").get("orders", [])
        return [o["name"] for o in listed]

    before = bobs_orders()
    page = signed_in(browser, shop, "bob")
    mug = products["mug"]
    page.goto(f"{shop.url}/products/{mug.sku}")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("main").get_by_text("Added 1 to your cart.")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Cart").click()
    # The checkout reaches the mesh and places the order; its answer is lost on the
    # way back (the page sees a 503), so the customer tries again.
    sent: list[dict[str, str]] = []

    def lost(route: Route) -> None:
        sent.append(json.loads(route.request.post_data or "{}"))
        route.fetch()
        route.fulfill(status=503, json={"code": 14, "message": "the answer was lost"})

    page.route("**/v1/cart:checkout", lost, times=1)
    page.get_by_role("button", name="Place order").click()
    alert = page.get_by_role("main").get_by_role("alert")
    expect(alert).to_contain_text("the answer was lost")
    alert.get_by_role("button", name="Try again").click()
    expect(page.get_by_test_id("order-status")).to_contain_text("Pending payment")
    order_id = page.url.rsplit("/", 1)[-1]
    # One order, the first attempt's, though its cart was already empty at the retry.
    assert set(bobs_orders()) - set(before) == {f"orders/{order_id}"}
    assert sent and sent[0]["requestId"].startswith("checkout-")
    page.context.close()


def test_an_unavailable_api_offers_a_retry(
    browser: Browser, shop: Shop, products: dict[str, Item]
) -> None:
    page = browser.new_context().new_page()
    # The first product list answers as the gateway does when catalog is down (503,
    # google.rpc.Status UNAVAILABLE); the retry reaches the real mesh.
    unavailable = {"code": 14, "message": "catalog is unavailable", "details": []}
    page.route(
        "**/v1/products?*",
        lambda route: route.fulfill(status=503, json=unavailable),
        times=1,
    )
    page.goto(shop.url + "/")
    alert = page.get_by_role("main").get_by_role("alert")
    expect(alert).to_contain_text("catalog is unavailable")
    no_serious_violations(page, "product list with an error")
    alert.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("link", name=products["mug"].name)).to_be_visible()
    expect(alert).to_have_count(0)
    page.context.close()
