"""The ``PaymentProvider`` port and its sandbox, the one implementation in this repository.

A real provider (Stripe, Adyen, a bank's gateway) plugs in here: implement
:class:`PaymentProvider` with its SDK and pass it to the orders unit
(``build_unit(..., payments=...)``). Orders hands it the card once, never stores
or logs it, and keeps only the provider's reference of the charge.

Exceptions::

    PaymentError
    ├── PaymentDeclined      the card was refused; another card may work (FAILED_PRECONDITION)
    └── PaymentUnavailable   the provider could not answer; the same call may work (UNAVAILABLE)

The sandbox takes documented test card numbers, like the big providers' test
modes, and makes no network call:

=====================  ====================================================
``4242424242424242``   succeeds
``5555555555554444``   succeeds (a second brand)
``4000000000000002``   declined (``card_declined``)
``4000000000009995``   declined (``insufficient_funds``)
``4000000000000119``   a processing error on the first attempt for an order,
                       success on the next (exercises the caller's retry)
=====================  ====================================================

Any expiry in the future and any 3-4 digit CVC are accepted; every other
number is declined (``not_a_test_card``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "TEST_CARDS",
    "Card",
    "Charge",
    "PaymentDeclined",
    "PaymentError",
    "PaymentProvider",
    "PaymentUnavailable",
    "SandboxPayments",
]


class PaymentError(Exception):
    """The payment did not happen."""


class PaymentDeclined(PaymentError):
    def __init__(self, code: str) -> None:
        super().__init__(f"the card was declined ({code})")
        self.code = code


class PaymentUnavailable(PaymentError):
    """Transient: the provider did not answer; retrying the same charge is safe."""


@dataclass(frozen=True, slots=True)
class Card:
    """A card as typed; its ``repr`` hides the number so a stray log line cannot leak it."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    def __repr__(self) -> str:
        return f"Card(number=****{self.number[-4:]}, exp={self.exp_month:02d}/{self.exp_year})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Charge:
    """The provider's reference of a payment: all orders keeps."""

    payment_id: str


@runtime_checkable
class PaymentProvider(Protocol):
    """Charges and refunds; both idempotent on their ``idempotency_key``.

    - ``charge`` with the same key twice charges once and returns the same reference
      (a retried ConfirmPayment must not charge twice);
    - ``refund`` of a refunded payment is a no-op.
    """

    async def charge(
        self, *, amount_minor: int, currency_code: str, card: Card, idempotency_key: str
    ) -> Charge: ...

    async def refund(self, payment_id: str, *, idempotency_key: str) -> None: ...


TEST_CARDS: dict[str, str] = {
    "4242424242424242": "succeeds",
    "5555555555554444": "succeeds",
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000119": "processing_error_once",
}


# How many recent charges, refunds and attempts the sandbox remembers: a long
# local run must not grow by a few hundred bytes per order (the soak saw it).
# Nothing depends on older ones: a payment id is derived from its key.
SANDBOX_MEMORY = 10_000


def _remember(seen: dict[str, Any], key: str, value: Any) -> None:
    seen[key] = value
    if len(seen) > SANDBOX_MEMORY:
        del seen[next(iter(seen))]  # the oldest (dicts keep insertion order)


class SandboxPayments:
    """Test cards only, no network; the newest charges and refunds are kept in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self.charges: dict[str, str] = {}  # idempotency key -> payment id
        self.refunds: dict[str, None] = {}  # payment ids, oldest first

    async def charge(
        self, *, amount_minor: int, currency_code: str, card: Card, idempotency_key: str
    ) -> Charge:
        outcome = TEST_CARDS.get(card.number, "not_a_test_card")
        with self._lock:
            if outcome == "processing_error_once":
                # Counted per payment and card, so another card tried first does not count.
                tried = hashlib.sha256(f"{idempotency_key}:{card.number}".encode()).hexdigest()
                attempt = self._attempts.get(tried, 0) + 1
                _remember(self._attempts, tried, attempt)
                if attempt == 1:
                    raise PaymentUnavailable("the payment provider had a processing error; retry")
            elif outcome != "succeeds":
                raise PaymentDeclined(outcome)
            digest = hashlib.sha256(f"sandbox:{idempotency_key}".encode()).hexdigest()
            payment_id = f"pay_sandbox_{digest[:24]}"
            _remember(self.charges, idempotency_key, payment_id)
        return Charge(payment_id)

    async def refund(self, payment_id: str, *, idempotency_key: str) -> None:
        with self._lock:
            _remember(self.refunds, payment_id, None)
