import { useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { ApiError, unwrap } from "../api/errors";
import { isOwner, type Session, signIn } from "../auth";
import { ErrorNote, Field, Loading, Title } from "../components";
import { useLoad } from "../load";
import { formatMoney } from "../money";
import { navigate } from "../router";
import { ProductForm } from "./ProductForm";

type Product = Schemas["shop.catalog.v1.Product"];
type Stock = Schemas["shop.inventory.v1.Stock"];

async function loadProduct(sku: string, signal: AbortSignal) {
  const product = await unwrap(
    api.GET("/v1/products/{name}", { params: { path: { name: sku } }, signal }),
  );
  let stock: Stock | null = null;
  try {
    stock = await unwrap(api.GET("/v1/stocks/{name}", { params: { path: { name: sku } }, signal }));
  } catch (e) {
    if (!(e instanceof ApiError && e.notFound)) throw e; // no stock record yet: none to sell
  }
  return { product, stock };
}

export function ProductPage({ sku, session }: { sku: string; session: Session | null }) {
  const loaded = useLoad((signal) => loadProduct(sku, signal), [sku]);
  if (loaded.error instanceof ApiError && loaded.error.notFound) {
    return (
      <section>
        <Title>Product not found</Title>
        <p>
          There is no product <code>{sku}</code>. <a href="/">See all products</a>.
        </p>
      </section>
    );
  }
  if (!loaded.data) {
    return (
      <section>
        {loaded.loading ? <Loading /> : null}
        <ErrorNote error={loaded.error} retry={loaded.reload} />
      </section>
    );
  }
  const { product, stock } = loaded.data;
  const available = Number(stock?.available ?? 0);
  return (
    <section>
      <Title>{product.displayName || product.sku}</Title>
      <p class="price">{formatMoney(product.price)}</p>
      <p class="stock" data-testid="stock">
        {available > 0 ? `${available} in stock` : "Out of stock"}
      </p>
      {product.description ? <p class="description">{product.description}</p> : null}
      <p class="sku">sku {product.sku}</p>
      {product.active ? (
        <AddToCart sku={sku} session={session} available={available} />
      ) : (
        <p class="badge">Not for sale</p>
      )}
      {isOwner(session) ? (
        <div class="owner">
          <h2>Edit product</h2>
          <ProductForm
            product={product}
            onSaved={(saved) => loaded.set({ product: saved, stock })}
          />
          <StockForm sku={sku} stock={stock} onSaved={(s) => loaded.set({ product, stock: s })} />
        </div>
      ) : null}
    </section>
  );
}

function AddToCart({
  sku,
  session,
  available,
}: {
  sku: string;
  session: Session | null;
  available: number;
}) {
  const [quantity, setQuantity] = useState("1");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [added, setAdded] = useState("");
  if (!session) {
    return (
      <button type="button" onClick={() => signIn(location.pathname)}>
        Sign in to buy
      </button>
    );
  }
  const add = async (event?: Event) => {
    event?.preventDefault();
    setBusy(true);
    setError(null);
    setAdded("");
    try {
      await unwrap(api.POST("/v1/cart/lines", { body: { sku, quantity: Number(quantity) } }));
      setAdded(`Added ${quantity} to your cart.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const violations = error instanceof ApiError ? error.fieldViolations : {};
  return (
    <form class="add" onSubmit={add}>
      <Field id="quantity" label="Quantity" error={violations.quantity}>
        <input
          id="quantity"
          type="number"
          min={1}
          max={1000}
          required
          value={quantity}
          aria-invalid={violations.quantity ? true : undefined}
          aria-describedby={violations.quantity ? "quantity-error" : undefined}
          onInput={(e) => setQuantity(e.currentTarget.value)}
        />
      </Field>
      <button type="submit" disabled={busy || available <= 0}>
        Add to cart
      </button>
      <p aria-live="polite" class="note">
        {added ? (
          <>
            {added} <a href="/cart">Go to cart</a>
          </>
        ) : null}
      </p>
      {Object.keys(violations).length ? null : <ErrorNote error={error} retry={() => add()} />}
    </form>
  );
}

function StockForm({
  sku,
  stock,
  onSaved,
}: {
  sku: string;
  stock: Stock | null;
  onSaved: (stock: Stock) => void;
}) {
  const [onHand, setOnHand] = useState(String(stock?.onHand ?? "0"));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const save = async (event?: Event) => {
    event?.preventDefault();
    setError(null);
    setSaved("");
    try {
      const body = { onHand: String(Number(onHand)) };
      const result = await unwrap(
        api.PUT("/v1/stocks/{name}", { params: { path: { name: sku } }, body }),
      );
      onSaved(result);
      setSaved("Stock saved.");
    } catch (e) {
      setError(e);
    }
  };
  const violations = error instanceof ApiError ? error.fieldViolations : {};
  return (
    <form class="stock-form" onSubmit={save}>
      <h2>Stock</h2>
      <p>
        {stock
          ? `${stock.onHand} on hand, ${stock.reserved ?? 0} reserved.`
          : "No stock recorded yet."}
      </p>
      <Field id="on-hand" label="Units on hand" error={violations.onHand}>
        <input
          id="on-hand"
          type="number"
          min={0}
          required
          value={onHand}
          aria-invalid={violations.onHand ? true : undefined}
          aria-describedby={violations.onHand ? "on-hand-error" : undefined}
          onInput={(e) => setOnHand(e.currentTarget.value)}
        />
      </Field>
      <button type="submit">Set stock</button>
      <p aria-live="polite" class="note">
        {saved}
      </p>
      {Object.keys(violations).length ? null : <ErrorNote error={error} retry={() => save()} />}
    </form>
  );
}

export function NewProduct() {
  return (
    <section>
      <Title>New product</Title>
      <ProductForm
        product={null}
        onSaved={(p) => navigate(`/products/${encodeURIComponent(p.sku ?? "")}`)}
      />
    </section>
  );
}

export type { Product };
