import { defineConfig } from "vite";

// Preact's JSX needs no plugin: the transform reads jsx/jsxImportSource from tsconfig.json.
export default defineConfig({
  build: {
    outDir: "dist",
    assetsDir: "assets",
    // No inline scripts or data: URLs, so the CSP can stay 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
  server: {
    // npm run dev: the gateway of scripts/run behind the dev server, one origin.
    proxy: { "/v1": "http://127.0.0.1:8080", "/config.json": "http://127.0.0.1:8080" },
  },
});
