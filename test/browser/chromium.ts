/**
 * Browser-test helpers: Debian's Chromium driven headless through playwright-core (never
 * `playwright install`: no browser downloads here), the browser SDK bundled with esbuild, and a
 * static file server on loopback. Everything is closed by the test's cleanup (t.after).
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * --no-sandbox: tests run as root in a container, where Chromium's sandbox cannot start;
 * the rest keep it from reaching for a GPU or the network on its own (updates, sync).
 */
export const CHROMIUM_ARGS: readonly string[] = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * Launch headless Chromium, closed when the test ends. Without /usr/bin/chromium the test fails
 * under CI=true (.ci/run installs it) and is skipped with the reason otherwise (returns undefined).
 */
export async function launchChromium(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM_PATH)) {
    const reason = `${CHROMIUM_PATH} is missing (apt-get install -y chromium)`;
    if (process.env.CI === "true") throw new Error(`${reason} (CI=true: browser tests must run)`);
    t.skip(reason);
    return undefined;
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS], timeout: 30_000 });
  t.after(() => browser.close());
  return browser;
}

/** The browser entry of the client SDK (src/client/browser.ts) as one ES module. */
export async function bundleBrowserSdk(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../../src/client/browser.ts", import.meta.url))],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const out = result.outputFiles[0];
  if (out === undefined) throw new Error("esbuild produced no output for src/client/browser.ts");
  return out.text;
}

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

/**
 * Serve `files` (URL path → content) on 127.0.0.1, on a free port; anything else is a 404.
 * Returns the base URL (`http://127.0.0.1:port`). Stopped when the test ends.
 */
export async function serveStatic(t: TestContext, files: Record<string, string>): Promise<string> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const body = files[path];
    if (body === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const ext = path.slice(path.lastIndexOf("."));
    res.writeHead(200, { "content-type": TYPES[ext] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  t.after(async () => {
    // The browser may keep a connection alive; drop it so close() returns now.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
