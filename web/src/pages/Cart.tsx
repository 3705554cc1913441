import { useRef, useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { ApiError, unwrap } from "../api/errors";
import { ErrorNote, Loading, Title } from "../components";
import { useLoad } from "../load";
import { formatMoney } from "../money";
import { navigate } from "../router";

type Cart = Schemas["shop.carts.v1.Cart"];
type Line = Schemas["shop.carts.v1.CartLine"];

export function CartPage() {
  const cart = useLoad((signal) => unwrap(api.GET("/v1/cart", { signal })), []);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // One key per checkout, kept by its retries: a retry of a checkout whose answer
  // was lost gets its order back, not "the cart is empty". A changed cart is a new one.
  const checkoutKey = useRef("");

  const change = async (call: () => Promise<Cart>) => {
    checkoutKey.current = "";
    setError(null);
    setBusy(true);
    try {
      cart.set(await call());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const checkout = async () => {
    setError(null);
    setBusy(true);
    try {
      checkoutKey.current ||= `checkout-${crypto.randomUUID()}`;
      const done = await unwrap(
        api.POST("/v1/cart:checkout", { body: { requestId: checkoutKey.current } }),
      );
      navigate(`/${done.order ?? "orders"}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  // Insufficient stock names its sku: the message goes on that line, not at the top.
  const info = error instanceof ApiError ? error.info : undefined;
  const short = info?.reason === "INSUFFICIENT_STOCK" ? info.metadata : undefined;
  const lines = cart.data?.lines ?? [];
  return (
    <section>
      <Title>Your cart</Title>
      {cart.loading && !cart.data ? <Loading /> : null}
      <ErrorNote error={cart.error} retry={cart.reload} />
      {cart.data && lines.length === 0 ? (
        <p>
          Your cart is empty. <a href="/">Browse products</a>.
        </p>
      ) : null}
      {lines.length ? (
        <table class="cart">
          <caption class="visually-hidden">Cart lines</caption>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">Unit price</th>
              <th scope="col">Quantity</th>
              <th scope="col">Total</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {lines.map((line) => (
              <CartRow
                key={line.sku}
                line={line}
                busy={busy}
                shortage={short?.sku === line.sku ? short : undefined}
                onQuantity={(quantity) =>
                  change(() =>
                    unwrap(
                      api.PATCH("/v1/cart/lines/{sku}", {
                        params: { path: { sku: line.sku ?? "" } },
                        body: { quantity },
                      }),
                    ),
                  )
                }
                onRemove={() =>
                  change(() =>
                    unwrap(
                      api.DELETE("/v1/cart/lines/{sku}", {
                        params: { path: { sku: line.sku ?? "" } },
                      }),
                    ),
                  )
                }
              />
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colSpan={3}>
                Total
              </th>
              <td data-testid="cart-total">{formatMoney(cart.data?.total)}</td>
              <td />
            </tr>
          </tfoot>
        </table>
      ) : null}
      {short ? null : <ErrorNote error={error} retry={checkout} />}
      {lines.length ? (
        <button type="button" class="primary" disabled={busy} onClick={checkout}>
          Place order
        </button>
      ) : null}
    </section>
  );
}

function CartRow({
  line,
  busy,
  shortage,
  onQuantity,
  onRemove,
}: {
  line: Line;
  busy: boolean;
  shortage: Record<string, string> | undefined;
  onQuantity: (quantity: number) => void;
  onRemove: () => void;
}) {
  const id = `qty-${line.sku}`;
  return (
    <tr class={shortage ? "short" : undefined}>
      <th scope="row">
        <a href={`/products/${encodeURIComponent(line.sku ?? "")}`}>{line.sku}</a>
        {line.available === false ? <p class="badge">No longer sold</p> : null}
        {shortage ? (
          <p class="field-error" role="alert" id={`${id}-error`}>
            Only {shortage.available} left in stock (you asked for {shortage.requested}).
          </p>
        ) : null}
      </th>
      <td>{formatMoney(line.unitPrice)}</td>
      <td>
        <label class="visually-hidden" for={id}>
          Quantity of {line.sku}
        </label>
        <input
          id={id}
          type="number"
          min={1}
          max={1000}
          size={4}
          value={line.quantity}
          disabled={busy}
          aria-invalid={shortage ? true : undefined}
          aria-describedby={shortage ? `${id}-error` : undefined}
          onChange={(e) => {
            const quantity = Number(e.currentTarget.value);
            if (quantity >= 1) onQuantity(quantity);
          }}
        />
      </td>
      <td>{formatMoney(line.lineTotal)}</td>
      <td>
        <button type="button" class="link" disabled={busy} onClick={onRemove}>
          Remove<span class="visually-hidden"> {line.sku}</span>
        </button>
      </td>
    </tr>
  );
}
