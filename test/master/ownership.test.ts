/**
 * Several nodes, one truth, without Redis: a cluster config with two `db: true` servers on one
 * embedded SQLite database gets ownership through the master by default. Clients of both nodes
 * deposit into the same accounts at the same time (real processes under `glowfly start`); every
 * deposit lands in the database.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "../../src/client/index.ts";
import { openDatabase } from "../../src/index.ts";
import { freePort, waitFor } from "../helpers.ts";
import { Deposit } from "./fixtures/bank-app.ts";

const ROOT = resolve(import.meta.dirname, "../..");

test("two db nodes under the master, no Redis: concurrent deposits to the same accounts all land", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-own-master-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [p1, p2] = [await freePort(), await freePort()];
  const app = join(ROOT, "test/master/fixtures/bank-app.ts");
  await writeFile(
    join(dir, "config.json"),
    JSON.stringify({
      master: { rootport: 0 },
      servers: {
        east: { netport: p1, frame: "native", app, db: true },
        west: { netport: p2, frame: "native", app, db: true },
      },
      db: "sqlite:bank.db",
    }),
  );
  const master = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "start", join(dir, "config.json")], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  master.stdout.on("data", (d: Buffer) => (out += d.toString()));
  master.stderr.on("data", (d: Buffer) => (out += d.toString()));
  t.after(async () => {
    if (master.exitCode !== null) return;
    const exited = new Promise((r) => master.once("exit", r));
    master.kill("SIGTERM");
    await exited;
  });
  await waitFor(() => /glowfly master: 2 node\(s\)/.test(out) || master.exitCode !== null, 60_000, "the cluster to start");
  assert.equal(master.exitCode, null, `the master exited:\n${out}`);
  assert.match(out, /entities have one owner at a time through the master/);
  const clients = await Promise.all([p1, p2].map((p) => connect(`tcp://127.0.0.1:${p}`, { reconnect: false, requestTimeoutMs: 20_000 })));
  try {
    const deposits = clients.flatMap((c) => [1, 2, 3].flatMap((id) => Array.from({ length: 15 }, () => c.request(Deposit, { id, amount: 2 }))));
    await Promise.all(deposits);
  } finally {
    for (const c of clients) c.close();
  }
  // Stop: each node writes back before it exits.
  const exited = new Promise((r) => master.once("exit", r));
  master.kill("SIGTERM");
  await exited;
  const db = await openDatabase(`sqlite:${join(dir, "bank.db")}`);
  try {
    const rows = (await db.kysely.selectFrom("bank_accounts" as never).selectAll().execute()) as { id: bigint; balance: bigint }[];
    assert.deepEqual(
      rows.map((r) => [Number(r.id), Number(r.balance)]).sort((a, b) => a[0]! - b[0]!),
      [
        [1, 60],
        [2, 60],
        [3, 60],
      ],
      "2 nodes × 15 deposits × 2 on each account",
    );
  } finally {
    await db.close();
  }
});
