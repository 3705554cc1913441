import { useCallback, useState } from "preact/hooks";
import {
  type AppConfig,
  CALLBACK,
  currentSession,
  isOwner,
  type Session,
  signIn,
  signOut,
} from "./auth";
import { Title } from "./components";
import { Callback } from "./pages/Callback";
import { CartPage } from "./pages/Cart";
import { OrderPage } from "./pages/Order";
import { OrdersPage } from "./pages/Orders";
import { NewProduct, ProductPage } from "./pages/Product";
import { Products } from "./pages/Products";
import { useLocation } from "./router";

function NeedsSignIn({ config }: { config: AppConfig }) {
  return (
    <section>
      <Title>Please sign in</Title>
      {config.auth ? (
        <button type="button" onClick={() => signIn(location.pathname + location.search)}>
          Sign in
        </button>
      ) : (
        <p>Sign-in is not configured for this shop.</p>
      )}
    </section>
  );
}

function NotFound() {
  return (
    <section>
      <Title>Page not found</Title>
      <p>
        <a href="/">Back to the products</a>
      </p>
    </section>
  );
}

function route(
  path: string,
  search: string,
  session: Session | null,
  config: AppConfig,
  refresh: () => void,
) {
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [first, second] = segments;
  if (path === CALLBACK) return <Callback search={search} onSignedIn={refresh} />;
  if (segments.length === 0) return <Products session={session} search={search} />;
  if (first === "products" && second === "new" && segments.length === 2) {
    return isOwner(session) ? <NewProduct /> : <NeedsSignIn config={config} />;
  }
  if (first === "products" && segments.length === 2)
    return <ProductPage sku={second} session={session} />;
  if (first === "cart" && segments.length === 1)
    return session ? <CartPage /> : <NeedsSignIn config={config} />;
  if (first === "orders" && segments.length === 1) {
    return session ? <OrdersPage session={session} /> : <NeedsSignIn config={config} />;
  }
  if (first === "orders" && segments.length === 2) {
    return session ? <OrderPage key={second} id={second} /> : <NeedsSignIn config={config} />;
  }
  return <NotFound />;
}

export function App({ config }: { config: AppConfig }) {
  const { path, search } = useLocation();
  const [, setVersion] = useState(0);
  const refresh = useCallback(() => setVersion((n) => n + 1), []);
  const session = currentSession();
  const owner = isOwner(session);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <nav aria-label="Main">
          <a class="brand" href="/">
            Shop
          </a>
          <a href="/" aria-current={path === "/" ? "page" : undefined}>
            Products
          </a>
          {session ? (
            <>
              <a href="/cart" aria-current={path === "/cart" ? "page" : undefined}>
                Cart
              </a>
              <a href="/orders" aria-current={path === "/orders" ? "page" : undefined}>
                {owner ? "All orders" : "Orders"}
              </a>
            </>
          ) : null}
        </nav>
        <div class="account">
          {session ? (
            <>
              <span data-testid="user">
                Signed in as <strong>{session.user}</strong>
                {owner ? " (owner)" : ""}
              </span>
              <button
                type="button"
                class="link"
                onClick={() => {
                  signOut();
                  refresh();
                }}
              >
                Sign out
              </button>
            </>
          ) : config.auth ? (
            <button type="button" onClick={() => signIn(location.pathname + location.search)}>
              Sign in
            </button>
          ) : null}
        </div>
      </header>
      <main id="main">{route(path, search, session, config, refresh)}</main>
    </>
  );
}
