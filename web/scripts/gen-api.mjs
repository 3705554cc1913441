// The API's types, from the gateway's own OpenAPI document: no running mesh needed.
// python -m gateway.openapi_dump builds the document the gateway serves at /openapi.json;
// openapi-typescript turns it into src/api/schema.d.ts, which openapi-fetch is typed by.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(web, "..");
const venv = process.env.MESH_VENV ?? join(root, ".venv");
const python = existsSync(join(venv, "bin", "python")) ? join(venv, "bin", "python") : "python3";
const spec = join(web, "src", "api", "openapi.json");
execFileSync(python, ["-m", "gateway.openapi_dump", spec], { cwd: root, stdio: "inherit" });
const cli = join(web, "node_modules", ".bin", "openapi-typescript");
execFileSync(cli, [spec, "-o", join(web, "src", "api", "schema.d.ts"), "--alphabetize"], {
  cwd: web,
  stdio: ["ignore", "ignore", "inherit"],
});
