// The API client: openapi-fetch typed by the schema generated from the gateway's
// OpenAPI document (src/api/schema.d.ts), with the bearer token added per request.
import createClient, { type Middleware } from "openapi-fetch";
import { currentToken } from "../auth";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

export const api = createClient<paths>({ baseUrl: "" });

const bearer: Middleware = {
  onRequest({ request }) {
    const token = currentToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};
api.use(bearer);
