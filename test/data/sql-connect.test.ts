/** Database down at start: openDatabase rejects with host, port and cause within the connect timeout. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DbConnectError, openDatabase } from "../../src/index.ts";
import { freePort } from "../helpers.ts";

const CONNECT_TIMEOUT_MS = 800;
/** The bound: the driver's timeout, openDatabase's slack, and scheduling on a busy machine. */
const MAX_WAIT_MS = CONNECT_TIMEOUT_MS + 2500;

async function refusal(settings: { url: string; connectTimeoutMs: number }): Promise<{ error: DbConnectError; ms: number }> {
  const started = Date.now();
  try {
    const db = await openDatabase(settings);
    await db.close();
  } catch (error) {
    assert.ok(error instanceof DbConnectError, `expected DbConnectError, got ${String(error)}`);
    return { error, ms: Date.now() - started };
  }
  assert.fail(`${settings.url} opened`);
}

for (const scheme of ["postgres", "mysql"] as const) {
  test(`${scheme}: a closed port rejects at once with host, port and cause, without the password`, async () => {
    const port = await freePort();
    const { error, ms } = await refusal({ url: `${scheme}://game:hunter2@127.0.0.1:${port}/test`, connectTimeoutMs: CONNECT_TIMEOUT_MS });
    assert.match(error.message, new RegExp(`^cannot connect to ${scheme} at 127\\.0\\.0\\.1:${port} \\(database "test", user "game"\\): .*ECONNREFUSED`));
    assert.doesNotMatch(error.message, /hunter2/);
    assert.ok(ms < MAX_WAIT_MS, `took ${ms} ms`);
  });

  test(`${scheme}: a server that accepts and never answers rejects within the connect timeout`, async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const { error, ms } = await refusal({ url: `${scheme}://root@127.0.0.1:${port}/test`, connectTimeoutMs: CONNECT_TIMEOUT_MS });
      assert.match(error.message, new RegExp(`^cannot connect to ${scheme} at 127\\.0\\.0\\.1:${port} .*: .*(timeout|ETIMEDOUT|no answer)`, "i"));
      assert.ok(ms >= CONNECT_TIMEOUT_MS - 50 && ms < MAX_WAIT_MS, `took ${ms} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
}

test("sqlite: a path that cannot be a database file rejects with the path and cause", async () => {
  const dir = mkdtempSync(join(tmpdir(), "glowfly-sql-"));
  try {
    // The folder itself is not a file SQLite can open.
    const { error } = await refusal({ url: `sqlite:${dir}`, connectTimeoutMs: CONNECT_TIMEOUT_MS });
    assert.match(error.message, new RegExp(`sqlite.*${dir}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
