import { createReadStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The favicon is the app icon the tray and its Tauri bundle use: one copy, in the top-level
// icons/. index.html links it as ../icons/32x32.png; `vite build` resolves that and emits it
// fingerprinted into dist/assets/ like any other asset. The dev server serves only ui/, so it is
// handed that one file here, at the URL the browser makes of the link (/icons/32x32.png).
const FAVICON = fileURLToPath(new URL("../icons/32x32.png", import.meta.url));

function devFavicon(): Plugin {
  return {
    name: "qcity-dev-favicon",
    apply: "serve",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (req.url?.split("?")[0] !== "/icons/32x32.png") return next();
        res.setHeader("Content-Type", "image/png");
        createReadStream(FAVICON).on("error", next).pipe(res);
      });
    },
  };
}

// Built into ui/dist, which the qcity binary embeds (crates/qcity-api/build.rs).
export default defineConfig({
  plugins: [svelte(), devFavicon()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, assetsInlineLimit: 0, chunkSizeWarningLimit: 300 },
});
