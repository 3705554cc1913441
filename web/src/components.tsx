import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { ApiError } from "./api/errors";

/** An error as a person reads it, with a retry when trying again can help. */
export function ErrorNote({ error, retry }: { error: unknown; retry?: () => void }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="error" role="alert">
      <p>
        {api?.retryable ? "The shop is busy or unreachable right now. " : ""}
        {message}
      </p>
      {api?.retryable && retry ? (
        <button type="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** The page's heading; it takes the focus when the page changes, for screen readers. */
export function Title({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

export function Field({
  id,
  label,
  error,
  children,
}: {
  id: string;
  label: string;
  error?: string | undefined;
  children: ComponentChildren;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {error ? (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function Loading() {
  return (
    <p class="loading" aria-live="polite">
      Loading…
    </p>
  );
}

/** An order status enum value for people: STATUS_PENDING_PAYMENT → "Pending payment". */
export function statusLabel(status: string | undefined): string {
  const words = (status ?? "STATUS_UNSPECIFIED")
    .replace(/^STATUS_/, "")
    .toLowerCase()
    .replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
