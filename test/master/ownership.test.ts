/**
 * Several nodes, one truth, without Redis: a cluster config with two `db: true` servers on one
 * embedded SQLite database gets ownership through the master by default. Clients of both nodes
 * deposit into the same accounts at the same time (real processes under `glowfly start`); every
 * deposit lands in the database.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, type Client } from "../../src/client/index.ts";
import { CommandError, ErrorCode, openDatabase } from "../../src/index.ts";
import { freePort, waitFor } from "../helpers.ts";
import { Deposit } from "./fixtures/bank-app.ts";

const ROOT = resolve(import.meta.dirname, "../..");

/** `glowfly start` on a config with two `db: true` bank nodes sharing one SQLite file; resolves when both run. */
async function startBank(t: TestContext): Promise<{ dir: string; ports: number[]; master: ChildProcess; output: () => string }> {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-own-master-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p1 = await freePort();
  const p2 = await freePort();
  const app = join(ROOT, "test/master/fixtures/bank-app.ts");
  await writeFile(
    join(dir, "config.json"),
    JSON.stringify({
      master: { rootport: 0, restart: { initialDelayMs: 100, maxDelayMs: 1000 } },
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
  return { dir, ports: [p1, p2], master, output: () => out };
}

/** Stop the cluster (each node writes back before it exits) and read every balance. */
async function stopAndReadBalances(dir: string, master: ChildProcess): Promise<Map<number, number>> {
  const exited = new Promise((r) => master.once("exit", r));
  master.kill("SIGTERM");
  await exited;
  const db = await openDatabase(`sqlite:${join(dir, "bank.db")}`);
  try {
    const rows = (await db.kysely.selectFrom("bank_accounts" as never).selectAll().execute()) as { id: bigint; balance: bigint }[];
    return new Map(rows.map((r) => [Number(r.id), Number(r.balance)]));
  } finally {
    await db.close();
  }
}

test("two db nodes under the master, no Redis: concurrent deposits to the same accounts all land", async (t) => {
  const { dir, ports, master } = await startBank(t);
  const [p1, p2] = ports;
  const clients = await Promise.all([p1, p2].map((p) => connect(`tcp://127.0.0.1:${p}`, { reconnect: false, requestTimeoutMs: 20_000 })));
  try {
    const deposits = clients.flatMap((c) => [1, 2, 3].flatMap((id) => Array.from({ length: 15 }, () => c.request(Deposit, { id, amount: 2 }))));
    await Promise.all(deposits);
  } finally {
    for (const c of clients) c.close();
  }
  const balances = await stopAndReadBalances(dir, master);
  assert.deepEqual(
    [...balances].sort((a, b) => a[0] - b[0]),
    [
      [1, 60],
      [2, 60],
      [3, 60],
    ],
    "2 nodes × 15 deposits × 2 on each account",
  );
});

test("an owning node killed with SIGKILL mid-traffic: its leases wait for its next process, which replays its journal; no acknowledged deposit is lost", async (t) => {
  const { dir, ports, master, output } = await startBank(t);
  const pidsOf = (name: string) => [...output().matchAll(new RegExp(`node running node=master name=${name} pid=(\\d+)`, "g"))].map((m) => Number(m[1]));
  const clients = await Promise.all(ports.map((p) => connect(`tcp://127.0.0.1:${p}`, { reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, requestTimeoutMs: 20_000 })));
  t.after(() => {
    for (const c of clients) c.close();
  });
  // Per account: deposits acknowledged, and deposits whose fate the client cannot know (the
  // connection dropped or the reply timed out). Every other error reply means nothing changed.
  const acked = new Map<number, number>([[1, 0], [2, 0], [3, 0]]);
  const unknown = new Map<number, number>([[1, 0], [2, 0], [3, 0]]);
  const ackedBy = [0, 0];
  const refused: string[] = [];
  let running = true;
  const worker = async (client: Client, which: number, id: number) => {
    while (running) {
      if (client.state !== "open") {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      try {
        await client.request(Deposit, { id, amount: 1 });
        acked.set(id, acked.get(id)! + 1);
        ackedBy[which]!++;
      } catch (err) {
        const code = err instanceof CommandError ? err.code : -1;
        if (code === ErrorCode.ConnectionClosed || code === ErrorCode.Timeout) unknown.set(id, unknown.get(id)! + 1);
        else refused.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  const explain = (err: unknown): never => {
    const text = err instanceof Error ? err.message : String(err);
    throw new Error(`${text}; acknowledged per client ${ackedBy.join("/")}, ${refused.length} refused${refused.length > 0 ? ` (${refused[0]})` : ""}\n${output().slice(-6000)}`);
  };
  const workers = clients.flatMap((c, which) => Array.from({ length: 6 }, (_, w) => worker(c, which, (w % 3) + 1)));
  try {
    await waitFor(() => ackedBy[0]! >= 60 && ackedBy[1]! >= 60, 30_000, "deposits on both nodes").catch(explain);
    const [eastPid] = pidsOf("east");
    process.kill(eastPid!, "SIGKILL");
    const killedAt = Date.now();
    const atKill = [...ackedBy];
    await waitFor(() => pidsOf("east").length === 2, 30_000, "the master to restart east").catch(explain);
    t.diagnostic(`east ran again ${Date.now() - killedAt} ms after the kill`);
    // Both nodes serve every account again: east's new process replayed its journal and gave up
    // the leases its first process held when west asked for them.
    await waitFor(() => ackedBy[0]! >= atKill[0]! + 60 && ackedBy[1]! >= atKill[1]! + 60, 40_000, "deposits on both nodes after the restart").catch(explain);
    t.diagnostic(`both nodes served 60 more deposits ${Date.now() - killedAt} ms after the kill`);
  } finally {
    running = false;
    await Promise.all(workers);
  }
  for (const c of clients) c.close();
  const balances = await stopAndReadBalances(dir, master);
  for (const id of [1, 2, 3]) {
    const balance = balances.get(id) ?? 0;
    const low = acked.get(id)!;
    const high = low + unknown.get(id)!;
    assert.ok(balance >= low && balance <= high, `account ${id}: balance ${balance}, acknowledged ${low}, unknown fate ${unknown.get(id)} (refused: ${refused.length})`);
  }
  t.diagnostic(`acknowledged ${JSON.stringify([...acked])}, unknown ${JSON.stringify([...unknown])}, refused ${refused.length}${refused.length > 0 ? `: ${refused[0]}` : ""}`);
});
