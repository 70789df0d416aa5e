/**
 * End to end in a real browser: headless Chromium loads a page that imports the bundled browser
 * SDK, connects to a glowfly Node over WebSocket, sends a request and shows the reply in the DOM.
 * The test reads the DOM through playwright and leaves a screenshot in test-results/.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { command, type Node } from "../../src/index.ts";
import { portOf, startNode } from "../helpers.ts";
import { bundleBrowserSdk, launchChromium, serveStatic } from "./chromium.ts";

const Echo = command<{ text: string }, { text: string }>(1, { name: "echo" });

/** The page: connect to the `ws` query parameter's URL, echo a text, show the reply (or the error). */
const PAGE = `<!doctype html>
<html>
  <head><meta charset="utf-8"><link rel="icon" href="data:,"><title>glowfly browser echo</title></head>
  <body>
    <h1>glowfly echo</h1>
    <p>status: <span id="status">loading</span></p>
    <p>reply: <span id="reply"></span></p>
    <script type="module">
      import { connect, command } from "/sdk.js";
      const status = document.getElementById("status");
      const Echo = command(1, { name: "echo" });
      try {
        const url = new URL(location.href).searchParams.get("ws");
        status.textContent = "connecting";
        const client = await connect(url, { reconnect: false, connectTimeoutMs: 5000 });
        status.textContent = "connected";
        const reply = await client.request(Echo, { text: "hello from " + navigator.userAgent.split(" ").find((p) => p.startsWith("HeadlessChrome") || p.startsWith("Chrome")) });
        document.getElementById("reply").textContent = reply.text;
        status.textContent = "done";
        client.close();
      } catch (err) {
        status.textContent = "error: " + (err && err.message ? err.message : String(err));
      }
    </script>
  </body>
</html>
`;

test("a page in headless Chromium echoes through a glowfly Node with the browser SDK", async (t) => {
  const browser = await launchChromium(t);
  if (browser === undefined) return;
  const node = await startNode({ ws: [{ port: 0 }], stopDeadlineMs: 200 }, [(n: Node) => n.commands.handle(Echo, (req) => ({ text: req.text }))]);
  t.after(() => node.stop({ deadlineMs: 200 }));
  const base = await serveStatic(t, { "/": PAGE, "/index.html": PAGE, "/sdk.js": await bundleBrowserSdk() });

  const page = await browser.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  const wsUrl = `ws://127.0.0.1:${portOf(node, "ws")}/`;
  await page.goto(`${base}/index.html?ws=${encodeURIComponent(wsUrl)}`);
  // Wait for the page's script to finish either way, so a failure shows its own message.
  await page.waitForFunction(() => /^(done|error)/.test(document.getElementById("status")?.textContent ?? ""), undefined, { timeout: 10_000 });

  const dir = fileURLToPath(new URL("../../test-results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: `${dir}browser-echo.png` });

  assert.equal(await page.textContent("#status"), "done", problems.join("\n"));
  const reply = await page.textContent("#reply");
  assert.match(reply ?? "", /^hello from (Headless)?Chrome\/\d+/);
  assert.deepEqual(problems, []);
});
