import type { Schemas } from "./api/client";

type Money = Schemas["shop.type.v1.Money"];

function digits(currency: string): number {
  try {
    return (
      new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
        .maximumFractionDigits ?? 2
    );
  } catch {
    return 2;
  }
}

export function formatMoney(money: Money | undefined | null): string {
  if (!money?.currencyCode) return "—";
  const amount = Number(money.amountMinor ?? 0) / 10 ** digits(money.currencyCode);
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: money.currencyCode,
    }).format(amount);
  } catch {
    return `${amount} ${money.currencyCode}`;
  }
}

/** "12.50" in EUR → 1250 minor units; NaN when it is not an amount. */
export function toMinor(text: string, currency: string): number {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) return Number.NaN;
  return Math.round(Number(text) * 10 ** digits(currency));
}

export function fromMinor(money: Money | undefined): string {
  if (!money?.currencyCode) return "";
  const d = digits(money.currencyCode);
  return (Number(money.amountMinor ?? 0) / 10 ** d).toFixed(d);
}
