// Sign-in: the OAuth 2.0 authorization code flow with PKCE against whatever
// /config.json names: Cognito's hosted UI on AWS, the local sign-in of scripts/run.
// The access token lives in sessionStorage: this tab only, gone when it closes.

export interface AuthConfig {
  authorizeUrl: string;
  tokenUrl: string;
  clientId: string;
  scope?: string;
  scopePrefix?: string;
  logoutUrl?: string;
}

export interface AppConfig {
  auth: AuthConfig | null;
}

export interface Session {
  token: string;
  expiresAt: number;
  user: string;
  scopes: string[];
}

const SESSION = "shop.session";
const PENDING = "shop.signin";
export const CALLBACK = "/callback";

let config: AppConfig = { auth: null };
let session: Session | null = null;

export async function loadConfig(): Promise<AppConfig> {
  try {
    const res = await fetch("/config.json", { cache: "no-store" });
    if (res.ok) config = (await res.json()) as AppConfig;
  } catch {
    // No configuration: the shop can be browsed, not signed in to.
  }
  session = readSession();
  return config;
}

export function currentSession(): Session | null {
  if (session && session.expiresAt <= Date.now()) {
    sessionStorage.removeItem(SESSION);
    session = null;
  }
  return session;
}

export function currentToken(): string | null {
  return currentSession()?.token ?? null;
}

export function isOwner(s: Session | null): boolean {
  return !!s && s.scopes.includes("catalog.write") && s.scopes.includes("inventory.write");
}

function readSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(SESSION);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function b64url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(size: number): string {
  return b64url(crypto.getRandomValues(new Uint8Array(size)));
}

function redirectUri(): string {
  return location.origin + CALLBACK;
}

export async function signIn(returnTo: string): Promise<void> {
  const auth = config.auth;
  if (!auth) throw new Error("Sign-in is not configured for this shop.");
  const verifier = randomText(48);
  const state = randomText(24);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: auth.clientId,
    redirect_uri: redirectUri(),
    code_challenge: b64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
    state,
  });
  if (auth.scope) params.set("scope", auth.scope);
  location.assign(`${auth.authorizeUrl}?${params}`);
}

/** Finishes a sign-in on /callback; answers where to go next. */
export async function completeSignIn(search: string): Promise<string> {
  const auth = config.auth;
  const query = new URLSearchParams(search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null") as {
    verifier: string;
    state: string;
    returnTo: string;
  } | null;
  sessionStorage.removeItem(PENDING);
  if (query.get("error"))
    throw new Error(query.get("error_description") ?? query.get("error") ?? "");
  if (!auth || !pending || query.get("state") !== pending.state) {
    throw new Error(
      "This sign-in was not started here, or it was already finished. Sign in again.",
    );
  }
  const res = await fetch(auth.tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: auth.clientId,
      code: query.get("code") ?? "",
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  });
  const body = (await res.json()) as {
    access_token?: string;
    expires_in?: number;
    error_description?: string;
  };
  if (!res.ok || !body.access_token) throw new Error(body.error_description ?? "Sign-in failed.");
  const claims = JSON.parse(
    atob(body.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")),
  ) as { sub?: string; username?: string; scope?: string };
  const prefix = auth.scopePrefix ?? "";
  session = {
    token: body.access_token,
    expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000,
    user: claims.username ?? claims.sub ?? "",
    scopes: (claims.scope ?? "")
      .split(" ")
      .filter(Boolean)
      .map((s) => (prefix && s.startsWith(prefix) ? s.slice(prefix.length) : s)),
  };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  return pending.returnTo.startsWith("/") && !pending.returnTo.startsWith("//")
    ? pending.returnTo
    : "/";
}

export function signOut(): void {
  session = null;
  sessionStorage.removeItem(SESSION);
  const auth = config.auth;
  if (auth?.logoutUrl) {
    const params = new URLSearchParams({
      client_id: auth.clientId,
      logout_uri: `${location.origin}/`,
    });
    location.assign(`${auth.logoutUrl}?${params}`);
  }
}
