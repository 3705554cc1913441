// The payment of an order awaiting it. The card lives in this form's state only
// and travels in the POST body of ConfirmPayment: never in the URL, storage or logs.
import { useEffect, useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { ApiError, unwrap } from "../api/errors";
import { ErrorNote, Field } from "../components";
import { formatMoney } from "../money";

type Order = Schemas["shop.orders.v1.Order"];

/** The sandbox provider's numbers (services/orders/payments.py): no real card works there. */
const TEST_CARDS: [string, string][] = [
  ["4242 4242 4242 4242", "paid"],
  ["4000 0000 0000 0002", "declined"],
];

/** "12:04" left, or "" once the deadline has passed. */
function remaining(deadline: number, now: number): string {
  const seconds = Math.max(0, Math.floor((deadline - now) / 1000));
  if (seconds === 0) return "";
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

function Deadline({ at }: { at: string }) {
  const deadline = Date.parse(at);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const left = remaining(deadline, now);
  // The countdown is not a live region: a screen reader would read it every second.
  return (
    <p data-testid="payment-deadline">
      Pay by <time dateTime={at}>{new Date(deadline).toLocaleTimeString()}</time>
      {left ? ` (${left} left)` : ": the time to pay has run out"}
    </p>
  );
}

export function PaymentForm({ order, onPaid }: { order: Order; onPaid: (o: Order) => void }) {
  const id = (order.name ?? "").replace(/^orders\//, "");
  const [number, setNumber] = useState("");
  const [month, setMonth] = useState("");
  const [year, setYear] = useState("");
  const [cvc, setCvc] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const pay = async (event?: Event) => {
    event?.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const paid = await unwrap(
        api.POST("/v1/orders/{name}:confirmPayment", {
          params: { path: { name: id } },
          // Numbers that are not numbers go as 0, so the API's own check names the field.
          body: {
            card: { number, expMonth: Number(month) || 0, expYear: Number(year) || 0, cvc },
          },
        }),
      );
      setNumber("");
      setCvc("");
      onPaid(paid);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const v = error instanceof ApiError ? error.fieldViolations : {};
  const invalid = (key: string | undefined, field: string) =>
    key ? { "aria-invalid": true, "aria-describedby": `${field}-error` } : {};
  return (
    <section class="payment" aria-labelledby="payment-title">
      <h2 id="payment-title">Payment</h2>
      {order.paymentDeadline ? <Deadline at={order.paymentDeadline} /> : null}
      <form class="payment-form" onSubmit={pay} noValidate autoComplete="off">
        <Field id="card-number" label="Card number" error={v["card.number"] ?? v.card}>
          <input
            id="card-number"
            inputMode="numeric"
            autoComplete="cc-number"
            maxLength={23}
            value={number}
            onInput={(e) => setNumber(e.currentTarget.value)}
            {...invalid(v["card.number"] ?? v.card, "card-number")}
          />
        </Field>
        <div class="row">
          <Field id="card-month" label="Expiry month" error={v["card.expMonth"]}>
            <input
              id="card-month"
              inputMode="numeric"
              autoComplete="cc-exp-month"
              placeholder="MM"
              maxLength={2}
              size={3}
              value={month}
              onInput={(e) => setMonth(e.currentTarget.value)}
              {...invalid(v["card.expMonth"], "card-month")}
            />
          </Field>
          <Field id="card-year" label="Expiry year" error={v["card.expYear"]}>
            <input
              id="card-year"
              inputMode="numeric"
              autoComplete="cc-exp-year"
              placeholder="YYYY"
              maxLength={4}
              size={5}
              value={year}
              onInput={(e) => setYear(e.currentTarget.value)}
              {...invalid(v["card.expYear"], "card-year")}
            />
          </Field>
          <Field id="card-cvc" label="CVC" error={v["card.cvc"]}>
            <input
              id="card-cvc"
              inputMode="numeric"
              autoComplete="cc-csc"
              maxLength={4}
              size={5}
              value={cvc}
              onInput={(e) => setCvc(e.currentTarget.value)}
              {...invalid(v["card.cvc"], "card-cvc")}
            />
          </Field>
        </div>
        <button type="submit" disabled={busy}>
          Pay {formatMoney(order.total)}
        </button>
        {Object.keys(v).length ? (
          <p class="error" role="alert">
            Please correct the fields marked above.
          </p>
        ) : (
          <ErrorNote error={error} retry={() => pay()} />
        )}
      </form>
      <p class="note" data-testid="test-cards">
        Test cards (the local sandbox takes no real card):{" "}
        {TEST_CARDS.map(([card, outcome], i) => (
          <span key={card}>
            {i ? "; " : ""}
            <code>{card}</code> is {outcome}
          </span>
        ))}
        ; any future expiry, any 3-digit CVC.
      </p>
    </section>
  );
}
