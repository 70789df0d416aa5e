/**
 * Several nodes, one truth: two node processes with their own entity caches on one PostgreSQL
 * database add to the same rows at the same time. With Redis ownership every addition lands
 * (each row ends at exactly 2 × rounds); without it, each node works on its own cached copy and
 * the last write-back wins — the same run loses additions, which shows the check can fail.
 */
import { after, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { EntityCache, RedisOwnership, syncSchema } from "../../src/index.ts";
import { SERVICES, ServiceUnderTest } from "./services.ts";
import { ownershipTable } from "./ownership-writer.ts";

const WRITER = fileURLToPath(new URL("./ownership-writer.ts", import.meta.url));
const KEYS = 4;
const ROUNDS = 40;
const sut = new ServiceUnderTest(SERVICES.find((s) => s.dialect === "postgres")!);
after(() => sut.cleanup());

/** Redis must be there for these tests: fail under CI, skip with the reason elsewhere. */
async function redisReachable(t: TestContext): Promise<boolean> {
  try {
    const probe = await RedisOwnership.open({ node: "probe", timeoutMs: 2000 });
    await probe.close();
    return true;
  } catch (err) {
    const reason = `Redis unreachable at 127.0.0.1:6379: ${err instanceof Error ? err.message : String(err)}`;
    if (process.env.CI === "true") throw new Error(`${reason} (CI=true: the service must be up)`, { cause: err });
    t.skip(reason);
    return false;
  }
}

function runWriter(args: string[]): Promise<{ acks: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split("\n").pop()!) as { acks: number });
      else reject(new Error(`writer ${args[2]} exited ${code}: ${err}`));
    });
  });
}

async function race(t: TestContext, mode: "owned" | "plain"): Promise<{ golds: number[]; acks: number } | undefined> {
  const db = await sut.open(t);
  if (db === undefined || !(await redisReachable(t))) return undefined;
  const name = sut.tableName(`own_${mode}`);
  const Table = ownershipTable(name);
  await syncSchema(db, [Table]);
  const setup = await EntityCache.open({ db, tables: [Table] });
  for (let id = 1; id <= KEYS; id++) await setup.table(Table).create({ id, gold: 0 });
  await setup.close();
  const url = sut.service.url("");
  const prefix = `glowfly-test-${Math.random().toString(36).slice(2, 8)}`;
  // Both start together, after both processes are up (tsx takes a few seconds to start here).
  const startAt = String(Date.now() + 6000);
  const results = await Promise.all(["alpha", "beta"].map((node) => runWriter([url, name, node, mode, String(KEYS), String(ROUNDS), prefix, startAt])));
  const rows = await db.getRows(Table, Array.from({ length: KEYS }, (_, i) => i + 1));
  return { golds: [...rows.values()].map((r) => r.gold), acks: results.reduce((sum, r) => sum + r.acks, 0) };
}

test("with Redis ownership, two node processes adding to the same rows lose no addition", async (t) => {
  const result = await race(t, "owned");
  if (result === undefined) return;
  assert.equal(result.acks, 2 * KEYS * ROUNDS);
  assert.deepEqual(result.golds, Array.from({ length: KEYS }, () => 2 * ROUNDS), "every row holds both nodes' additions");
});

test("without ownership the same race loses additions (the check above can fail)", async (t) => {
  const result = await race(t, "plain");
  if (result === undefined) return;
  assert.equal(result.acks, 2 * KEYS * ROUNDS);
  assert.ok(
    result.golds.some((g) => g < 2 * ROUNDS),
    `each node added to its own cached copy, so some additions should be lost: ${result.golds.join(", ")}`,
  );
});
