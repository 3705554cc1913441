"""The sandbox payment provider and the card checks of ConfirmPayment."""

from __future__ import annotations

import pytest

from mesh.errors import InvalidArgument
from services.orders.payments import (
    SANDBOX_MEMORY,
    TEST_CARDS,
    Card,
    PaymentDeclined,
    PaymentProvider,
    PaymentUnavailable,
    SandboxPayments,
)
from services.orders.servicer import luhn_valid, parse_card
from shop.orders.v1 import orders_pb2 as pb


def card(number: str) -> Card:
    return Card(number, 12, 2099, "123")


async def charge(sandbox: SandboxPayments, number: str, key: str = "order-1") -> str:
    result = await sandbox.charge(
        amount_minor=1200, currency_code="EUR", card=card(number), idempotency_key=key
    )
    return result.payment_id


def test_the_sandbox_is_a_payment_provider() -> None:
    assert isinstance(SandboxPayments(), PaymentProvider)


async def test_test_cards_succeed_once_per_key() -> None:
    sandbox = SandboxPayments()
    first = await charge(sandbox, "4242424242424242")
    assert first.startswith("pay_sandbox_")
    assert await charge(sandbox, "4242424242424242") == first  # same key, same payment
    assert await charge(sandbox, "5555555555554444", key="order-2") != first
    assert len(sandbox.charges) == 2
    await sandbox.refund(first, idempotency_key="refund-order-1")
    await sandbox.refund(first, idempotency_key="refund-order-1")
    assert list(sandbox.refunds) == [first]


async def test_the_sandbox_remembers_only_the_newest_payments() -> None:
    # A long local run must not grow with every order; ids do not depend on memory.
    sandbox = SandboxPayments()
    first = await charge(sandbox, "4242424242424242", key="k-0")
    for i in range(1, SANDBOX_MEMORY + 5):
        paid = await charge(sandbox, "4242424242424242", key=f"k-{i}")
        await sandbox.refund(paid, idempotency_key=f"refund-{i}")
        with pytest.raises(PaymentUnavailable):
            await charge(sandbox, "4000000000000119", key=f"t-{i}")
    assert len(sandbox.charges) == len(sandbox.refunds) == SANDBOX_MEMORY
    assert "k-0" not in sandbox.charges and f"k-{SANDBOX_MEMORY + 4}" in sandbox.charges
    assert await charge(sandbox, "4242424242424242", key="k-0") == first
    assert len(sandbox._attempts) == SANDBOX_MEMORY


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4111111111111111", "not_a_test_card"),  # a valid number, but not the sandbox's
    ],
)
async def test_declined_cards(number: str, code: str) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        await charge(SandboxPayments(), number)
    assert caught.value.code == code
    assert number not in str(caught.value)


async def test_the_transient_card_fails_once_then_succeeds() -> None:
    sandbox = SandboxPayments()
    with pytest.raises(PaymentUnavailable):
        await charge(sandbox, "4000000000000119")
    assert await charge(sandbox, "4000000000000119")
    # Another payment with it fails once too: counted per payment.
    with pytest.raises(PaymentUnavailable):
        await charge(sandbox, "4000000000000119", key="order-2")


def test_a_card_never_shows_its_number() -> None:
    shown = card("4242424242424242")
    assert "4242424242424242" not in repr(shown) and "4242424242424242" not in str(shown)
    assert "4242" in repr(shown)
    assert "123" not in repr(shown).replace("12/", "")


def test_every_documented_test_card_has_a_valid_check_digit() -> None:
    assert all(luhn_valid(number) for number in TEST_CARDS)
    assert not luhn_valid("4242424242424241")


def message(number: str = "4242 4242-4242 4242", **fields: object) -> pb.PaymentCard:
    values: dict[str, object] = {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    values.update(fields)
    return pb.PaymentCard(**values)  # type: ignore[arg-type]


def test_parse_card_normalises_the_number() -> None:
    parsed = parse_card(message())
    assert parsed.number == "4242424242424242"
    assert (parsed.exp_month, parsed.exp_year, parsed.cvc) == (12, 2099, "123")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (message(""), "card.number"),
        (message("4242"), "card.number"),
        (message("4" * 20), "card.number"),
        (message("4" * 100_000), "card.number"),
        (message("4242424242424241"), "card.number"),
        (message("\uff14\uff12" * 8), "card.number"),  # full-width digits
        (message("4242424242424242\x00"), "card.number"),
        (message(exp_month=0), "card.exp_month"),
        (message(exp_month=-1), "card.exp_month"),
        (message(exp_year=99), "card.exp_year"),
        (message(exp_year=2020), "card.exp_year"),
        (message(cvc=""), "card.cvc"),
        (message(cvc="12a"), "card.cvc"),
    ],
)
def test_parse_card_refuses_bad_cards_without_echoing_them(bad: pb.PaymentCard, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_card(bad)
    assert field in [v.field for v in caught.value.violations]
    text = caught.value.message + repr(caught.value.violations)
    if len(bad.number) >= 12:
        assert bad.number not in text


def test_parse_card_wants_a_card() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_card(None)
    assert [v.field for v in caught.value.violations] == ["card"]
