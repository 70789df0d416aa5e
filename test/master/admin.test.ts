/** The admin HTTP API over real HTTP: tokens, methods, bodies, and the Firefly spellings. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdminServer, UnknownNodeError, type AdminActions } from "../../src/master/admin.ts";
import { loadAdminToken, TOKEN_ENV } from "../../src/master/token.ts";
import { captureLogger, waitFor } from "../helpers.ts";

const TOKEN = "s3cret-token-for-tests";

/** Records what the API asked for; stands in for the master (the HTTP layer is under test). */
function recorder() {
  const calls: string[] = [];
  const actions: AdminActions = {
    status: () => ({ nodes: [{ name: "gate", state: "running" }] }),
    stop: (o) => {
      calls.push(`stop:${o.deadlineMs ?? "default"}`);
      return Promise.resolve();
    },
    reload: () => {
      calls.push("reload");
      return Promise.resolve({ gate: "ok" });
    },
    restart: (name) => {
      if (name !== "game1") return Promise.reject(new UnknownNodeError(`no node named "${name}"`));
      calls.push(`restart:${name}`);
      return Promise.resolve();
    },
  };
  return { calls, actions };
}

async function withServer(fn: (base: string, calls: string[]) => Promise<void>): Promise<void> {
  const { calls, actions } = recorder();
  const server = new AdminServer({ host: "127.0.0.1", port: 0, token: TOKEN, actions, log: captureLogger().logger });
  const { port } = await server.listen();
  try {
    await fn(`http://127.0.0.1:${port}`, calls);
  } finally {
    await server.close();
  }
}

const auth = { authorization: `Bearer ${TOKEN}` };

test("every endpoint refuses a missing token (401) and a wrong one (403)", async () => {
  await withServer(async (base, calls) => {
    for (const [method, path] of [["GET", "/status"], ["POST", "/stop"], ["GET", "/stop"], ["POST", "/reload"], ["GET", "/reloadmodule"], ["POST", "/nodes/game1/restart"]] as const) {
      assert.equal((await fetch(base + path, { method })).status, 401, `${method} ${path} without token`);
      assert.equal((await fetch(base + path, { method, headers: { authorization: "Bearer nope" } })).status, 403, `${method} ${path} wrong token`);
      assert.equal((await fetch(`${base}${path}?token=nope`, { method })).status, 403);
    }
    assert.deepEqual(calls, [], "nothing was done");
  });
});

test("status, stop, reload and restart do what they say, with a valid token", async () => {
  await withServer(async (base, calls) => {
    const status = await fetch(`${base}/status`, { headers: auth });
    assert.equal(status.status, 200);
    assert.deepEqual(await status.json(), { nodes: [{ name: "gate", state: "running" }] });
    assert.equal((await fetch(`${base}/reload`, { method: "POST", headers: auth })).status, 200);
    assert.equal((await fetch(`${base}/nodes/game1/restart`, { method: "POST", headers: auth })).status, 200);
    assert.equal((await fetch(`${base}/nodes/nope/restart`, { method: "POST", headers: auth })).status, 404);
    const stop = await fetch(`${base}/stop`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ deadlineMs: 1500 }) });
    assert.equal(stop.status, 202);
    await waitFor(() => calls.includes("stop:1500"));
    assert.deepEqual(calls, ["reload", "restart:game1", "stop:1500"]);
  });
});

test("Firefly's GET /stop and GET /reloadmodule work with ?token=", async () => {
  await withServer(async (base, calls) => {
    assert.equal((await fetch(`${base}/reloadmodule?token=${TOKEN}`)).status, 200);
    assert.equal((await fetch(`${base}/stop?token=${TOKEN}`)).status, 202);
    await waitFor(() => calls.length === 2);
    assert.deepEqual(calls, ["reload", "stop:default"]);
  });
});

test("malformed and hostile requests get the right status and change nothing", async () => {
  await withServer(async (base, calls) => {
    const post = (path: string, body: string) => fetch(base + path, { method: "POST", headers: auth, body });
    assert.equal((await post("/stop", "{not json")).status, 400);
    assert.equal((await post("/stop", "[1,2]")).status, 400);
    assert.equal((await post("/stop", JSON.stringify({ deadlineMs: -5 }))).status, 400);
    assert.equal((await post("/stop", JSON.stringify({ deadlineMs: "soon" }))).status, 400);
    assert.equal((await post("/reload", "x".repeat(70 * 1024))).status, 413);
    assert.equal((await fetch(`${base}/status`, { method: "DELETE", headers: auth })).status, 405);
    assert.equal((await fetch(`${base}/reload`, { method: "GET", headers: auth })).status, 405);
    assert.equal((await fetch(`${base}/nope`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${base}/nodes/%2e%2e/restart`, { method: "POST", headers: auth })).status, 404);
    // A chunked body (no content-length) is measured as it streams and refused past the limit.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${base}/reload`, { method: "POST", headers: { ...auth, "transfer-encoding": "chunked" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 80; i++) req.write("y".repeat(1024));
      req.end();
    });
    assert.equal(status, 413);
    assert.deepEqual(calls, []);
  });
});

test("the token comes from the environment, or a 0600 file created on first start", async () => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-token-"));
  const file = join(dir, "state", "admin.token");
  assert.equal(await loadAdminToken(file, { create: true, env: { [TOKEN_ENV]: "from-env" } }), "from-env");
  await assert.rejects(loadAdminToken(file, { create: false, env: {} }), /no admin token/);
  const created = await loadAdminToken(file, { create: true, env: {} });
  assert.match(created, /^[0-9a-f]{64}$/);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(await loadAdminToken(file, { create: true, env: {} }), created, "the second start reuses it");
  assert.equal((await readFile(file, "utf8")).trim(), created);
  await writeFile(file, "\n");
  await assert.rejects(loadAdminToken(file, { create: true, env: {} }), /is empty/);
});
