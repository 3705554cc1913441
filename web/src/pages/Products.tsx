import { useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { unwrap } from "../api/errors";
import { isOwner, type Session } from "../auth";
import { ErrorNote, Loading, Title } from "../components";
import { useLoad } from "../load";
import { formatMoney } from "../money";

type Product = Schemas["shop.catalog.v1.Product"];
const PAGES = 10;

/** Every product, a page at a time (customers see the active ones only: the API's filter). */
async function listProducts(activeOnly: boolean, signal: AbortSignal): Promise<Product[]> {
  const products: Product[] = [];
  let pageToken = "";
  for (let page = 0; page < PAGES; page++) {
    const query = {
      pageSize: 100,
      ...(pageToken ? { pageToken } : {}),
      ...(activeOnly ? { active: true } : {}),
    };
    const data = await unwrap(api.GET("/v1/products", { params: { query }, signal }));
    products.push(...(data.products ?? []));
    pageToken = data.nextPageToken ?? "";
    if (!pageToken) break;
  }
  return products;
}

function matches(product: Product, words: string[]): boolean {
  const text = `${product.sku} ${product.displayName} ${product.description}`.toLowerCase();
  return words.every((w) => text.includes(w));
}

export function Products({ session, search }: { session: Session | null; search: string }) {
  const owner = isOwner(session);
  const [query, setQuery] = useState(new URLSearchParams(search).get("q") ?? "");
  const list = useLoad((signal) => listProducts(!owner, signal), [owner]);
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = (list.data ?? []).filter((p) => matches(p, words));
  return (
    <section>
      <Title>Products</Title>
      <form
        class="search"
        aria-label="Product search"
        onSubmit={(e) => {
          e.preventDefault();
          history.replaceState(null, "", query ? `/?q=${encodeURIComponent(query)}` : "/");
        }}
      >
        <label for="search">Search products</label>
        <input
          id="search"
          type="search"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
          placeholder="Name, sku or description"
        />
      </form>
      {owner ? (
        <p>
          <a class="button" href="/products/new">
            New product
          </a>
        </p>
      ) : null}
      <ErrorNote error={list.error} retry={list.reload} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data ? (
        <p class="count" aria-live="polite">
          {shown.length} of {list.data.length} products
        </p>
      ) : null}
      <ul class="products">
        {shown.map((p) => (
          <li key={p.sku} class="product-card">
            <h2>
              <a href={`/products/${encodeURIComponent(p.sku ?? "")}`}>{p.displayName || p.sku}</a>
            </h2>
            <p class="price">{formatMoney(p.price)}</p>
            {p.active ? null : <p class="badge">Not for sale</p>}
            <p class="sku">sku {p.sku}</p>
          </li>
        ))}
      </ul>
    </section>
  );
}
