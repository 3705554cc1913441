import { useState } from "preact/hooks";
import { api, type Schemas } from "../api/client";
import { ApiError, unwrap } from "../api/errors";
import { ErrorNote, Field } from "../components";
import { fromMinor, toMinor } from "../money";

type Product = Schemas["shop.catalog.v1.Product"];

/** Create (product null) or edit a product; the API's field violations appear by their fields. */
export function ProductForm({
  product,
  onSaved,
}: {
  product: Product | null;
  onSaved: (p: Product) => void;
}) {
  const [sku, setSku] = useState(product?.sku ?? "");
  const [displayName, setDisplayName] = useState(product?.displayName ?? "");
  const [description, setDescription] = useState(product?.description ?? "");
  const [currency, setCurrency] = useState(product?.price?.currencyCode ?? "EUR");
  const [price, setPrice] = useState(fromMinor(product?.price));
  const [active, setActive] = useState(product?.active ?? true);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);
  const creating = product === null;

  const save = async (event?: Event) => {
    event?.preventDefault();
    setError(null);
    setSaved("");
    setBusy(true);
    const minor = toMinor(price, currency.trim().toUpperCase());
    const body: Product = {
      displayName,
      description,
      // An amount that is not a number goes as -1, so the API's own check names the field.
      price: {
        currencyCode: currency.trim().toUpperCase(),
        amountMinor: String(Number.isNaN(minor) ? -1 : minor),
      },
      active,
    };
    try {
      let result: Product;
      if (creating) {
        result = await unwrap(api.POST("/v1/products", { body: { ...body, sku } }));
      } else {
        // Only what was edited travels, named by the update mask: one field edits one field.
        const before = product;
        const edited = (Object.keys(body) as (keyof Product)[]).filter(
          (key) => JSON.stringify(body[key]) !== JSON.stringify(before[key]),
        );
        if (edited.length === 0) {
          setSaved("Nothing changed.");
          return;
        }
        result = await unwrap(
          api.PATCH("/v1/products/{product_name}", {
            params: {
              path: { product_name: before.sku ?? "" },
              query: { update_mask: edited.join(",") },
            },
            body: Object.fromEntries(edited.map((key) => [key, body[key]])) as Product,
          }),
        );
      }
      setSaved(creating ? "Product created." : "Product saved.");
      onSaved(result);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const v = error instanceof ApiError ? error.fieldViolations : {};
  const priceError = v.price ?? v["price.amountMinor"] ?? v["price.currencyCode"];
  const invalid = (key: string | undefined, id: string) =>
    key ? { "aria-invalid": true, "aria-describedby": `${id}-error` } : {};
  const prefix = creating ? "new" : "edit";
  return (
    <form class="product-form" onSubmit={save} noValidate>
      {creating ? (
        <Field id={`${prefix}-sku`} label="Sku" error={v.sku}>
          <input
            id={`${prefix}-sku`}
            value={sku}
            onInput={(e) => setSku(e.currentTarget.value)}
            {...invalid(v.sku, `${prefix}-sku`)}
          />
        </Field>
      ) : null}
      <Field id={`${prefix}-name`} label="Name" error={v.displayName}>
        <input
          id={`${prefix}-name`}
          value={displayName}
          onInput={(e) => setDisplayName(e.currentTarget.value)}
          {...invalid(v.displayName, `${prefix}-name`)}
        />
      </Field>
      <Field id={`${prefix}-description`} label="Description" error={v.description}>
        <textarea
          id={`${prefix}-description`}
          value={description}
          rows={3}
          onInput={(e) => setDescription(e.currentTarget.value)}
          {...invalid(v.description, `${prefix}-description`)}
        />
      </Field>
      <div class="row">
        <Field id={`${prefix}-price`} label="Price" error={priceError}>
          <input
            id={`${prefix}-price`}
            inputMode="decimal"
            value={price}
            onInput={(e) => setPrice(e.currentTarget.value)}
            {...invalid(priceError, `${prefix}-price`)}
          />
        </Field>
        <Field id={`${prefix}-currency`} label="Currency">
          <input
            id={`${prefix}-currency`}
            value={currency}
            maxLength={3}
            size={4}
            onInput={(e) => setCurrency(e.currentTarget.value)}
          />
        </Field>
      </div>
      <div class="check">
        <input
          id={`${prefix}-active`}
          type="checkbox"
          checked={active}
          onChange={(e) => setActive(e.currentTarget.checked)}
        />
        <label for={`${prefix}-active`}>For sale</label>
      </div>
      <button type="submit" disabled={busy}>
        {creating ? "Create product" : "Save product"}
      </button>
      <p aria-live="polite" class="note">
        {saved}
      </p>
      {Object.keys(v).length ? (
        <p class="error" role="alert">
          Please correct the fields marked above.
        </p>
      ) : (
        <ErrorNote error={error} retry={() => save()} />
      )}
    </form>
  );
}
