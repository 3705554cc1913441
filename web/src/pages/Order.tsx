import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { ApiError, unwrap } from "../api/errors";
import { ErrorNote, Loading, statusLabel, Title } from "../components";
import { useLoad } from "../load";
import { formatMoney } from "../money";
import { type WatchState, watchOrder } from "../watch";
import { PaymentForm } from "./Payment";

// What CancelOrder accepts (orders' servicer): an unpaid order not yet closed.
// The final ones (cancelled, fulfilled, expired, failed) end the watch stream.
const CANCELLABLE = new Set(["STATUS_PENDING", "STATUS_PENDING_PAYMENT", "STATUS_CONFIRMED"]);

const LIVE_LABELS: Record<WatchState, string> = {
  live: "Updates live",
  reconnecting: "Connecting for live updates…",
  final: "Final status: this order will not change any more",
  stopped: "Live updates stopped",
};

export function OrderPage({ id }: { id: string }) {
  const loaded = useLoad(
    (signal) => unwrap(api.GET("/v1/orders/{name}", { params: { path: { name: id } }, signal })),
    [id],
  );
  const [live, setLive] = useState<WatchState>("reconnecting");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const found = loaded.data !== undefined;
  const { set } = loaded;
  const shown = useRef(loaded.data);
  shown.current = loaded.data;
  // The payment's answer may arrive after the watch showed a later status: keep the later one.
  const paid = (order: Schemas["shop.orders.v1.Order"]) => {
    const at = (o: typeof order | undefined) => Date.parse(o?.updateTime ?? "") || 0;
    if (at(order) >= at(shown.current)) set(order);
  };

  useEffect(() => {
    if (!found) return;
    const abort = new AbortController();
    watchOrder(id, { onOrder: set, onState: setLive }, abort.signal);
    return () => abort.abort();
  }, [id, found, set]);

  if (loaded.error instanceof ApiError && loaded.error.notFound) {
    return (
      <section>
        <Title>Order not found</Title>
        <p>
          There is no order <code>{id}</code> for you. <a href="/orders">See your orders</a>.
        </p>
      </section>
    );
  }
  const order = loaded.data;
  if (!order) {
    return (
      <section>
        {loaded.loading ? <Loading /> : null}
        <ErrorNote error={loaded.error} retry={loaded.reload} />
      </section>
    );
  }
  const cancel = async () => {
    setError(null);
    setBusy(true);
    try {
      set(
        await unwrap(
          api.POST("/v1/orders/{name}:cancel", { params: { path: { name: id } }, body: {} }),
        ),
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <Title>Order {id}</Title>
      <p class="status" aria-live="polite" data-testid="order-status" data-status={order.status}>
        Status: <strong>{statusLabel(order.status)}</strong>
      </p>
      <p class="live" data-testid="live">
        {LIVE_LABELS[live]}
      </p>
      <p>Placed {order.createTime ? new Date(order.createTime).toLocaleString() : ""}</p>
      <table class="order-lines">
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Quantity</th>
            <th scope="col">Unit price</th>
            <th scope="col">Total</th>
          </tr>
        </thead>
        <tbody>
          {(order.lines ?? []).map((line) => (
            <tr key={line.sku}>
              <th scope="row">
                <a href={`/products/${encodeURIComponent(line.sku ?? "")}`}>{line.sku}</a>
              </th>
              <td>{line.quantity}</td>
              <td>{formatMoney(line.unitPrice)}</td>
              <td>{formatMoney(line.lineTotal)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={3}>
              Total
            </th>
            <td>{formatMoney(order.total)}</td>
          </tr>
        </tfoot>
      </table>
      {order.status === "STATUS_PENDING_PAYMENT" && !order.paid ? (
        <PaymentForm order={order} onPaid={paid} />
      ) : null}
      {order.paid && order.status === "STATUS_PENDING_PAYMENT" ? (
        <p class="note">Payment received; the order moves on shortly.</p>
      ) : null}
      {CANCELLABLE.has(order.status ?? "") && !order.paid ? (
        <button type="button" disabled={busy} onClick={cancel}>
          Cancel order
        </button>
      ) : null}
      <ErrorNote error={error} retry={cancel} />
    </section>
  );
}
