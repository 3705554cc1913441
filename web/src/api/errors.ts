// The API's errors as a person reads them: google.rpc.Status bodies with details.
import type { Schemas } from "./client";

type Status = Schemas["google.rpc.Status"];
type Detail = Record<string, unknown> & { "@type"?: string };

const UNAVAILABLE = 14;

/** An error answer of the API, or a network failure (status 0). */
export class ApiError extends Error {
  readonly httpStatus: number;
  readonly code: number;
  readonly details: Detail[];

  constructor(httpStatus: number, body: Partial<Status> | undefined, fallback: string) {
    super(body?.message || fallback);
    this.httpStatus = httpStatus;
    this.code = body?.code ?? 0;
    this.details = (body?.details ?? []) as Detail[];
  }

  /** Worth trying again: the service is unavailable or the network failed. */
  get retryable(): boolean {
    return this.httpStatus === 0 || this.httpStatus === 503 || this.code === UNAVAILABLE;
  }

  get notFound(): boolean {
    return this.httpStatus === 404;
  }

  /** BadRequest field violations by field, the field named by its last path part in camelCase. */
  get fieldViolations(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const detail of this.details) {
      if (!detail["@type"]?.endsWith("google.rpc.BadRequest")) continue;
      const violations = (detail.fieldViolations ?? []) as {
        field?: string;
        description?: string;
      }[];
      for (const v of violations) {
        const key = fieldKey(v.field ?? "");
        out[key] = out[key] ? `${out[key]}; ${v.description ?? ""}` : (v.description ?? "invalid");
      }
    }
    return out;
  }

  /** ErrorInfo's reason and metadata (INSUFFICIENT_STOCK carries sku, requested, available). */
  get info(): { reason: string; metadata: Record<string, string> } | undefined {
    for (const detail of this.details) {
      if (detail["@type"]?.endsWith("google.rpc.ErrorInfo")) {
        return {
          reason: String(detail.reason ?? ""),
          metadata: (detail.metadata ?? {}) as Record<string, string>,
        };
      }
    }
    return undefined;
  }
}

/** "product.price.amount_minor" → "price.amountMinor"; "product.display_name" → "displayName". */
export function fieldKey(field: string): string {
  const parts = field
    .split(".")
    .map((p) => p.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
  if (parts.length > 1 && (parts[0] === "product" || parts[0] === "stock")) parts.shift();
  return parts.join(".");
}

/** The data of an openapi-fetch result, or an ApiError. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, undefined, "The shop cannot be reached. Check your connection.");
  }
  const { data, error, response } = result;
  if (error !== undefined || !response.ok) {
    const body = (typeof error === "object" ? error : undefined) as Partial<Status> | undefined;
    throw new ApiError(response.status, body, `${response.status} ${response.statusText}`);
  }
  return data as T;
}
