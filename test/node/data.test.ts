/**
 * A node's database and entity cache from its config (`db`, `data`): tables declared by an app
 * module are created at start, handlers read and change rows through `node.data.cache`, stop
 * writes back what is left; a restart finds every change. Bad settings are config errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { column, command, ConfigError, defineApp, defineTable, Node, openDatabase, parseNodeConfig } from "../../src/index.ts";
import { connect } from "../../src/client/index.ts";
import { captureLogger, portOf } from "../helpers.ts";

const Heroes = defineTable("node_heroes", {
  columns: { id: column.integer(), name: column.text({ maxLength: 32 }), gold: column.integer().default(0) },
  primaryKey: "id",
});
const Create = command<{ name: string }, number>(1);
const Earn = command<{ id: number; gold: number }, number>(2);

const app = defineApp((node) => {
  node.data.tables(Heroes);
  node.commands.handle(Create, async ({ name }) => {
    const heroes = node.data.cache.table(Heroes);
    const id = await heroes.nextId();
    await heroes.create({ id, name });
    return id;
  });
  node.commands.handle(Earn, async ({ id, gold }) => (await node.data.cache.table(Heroes).modify(id, (hero) => ({ gold: hero.gold + gold }))).gold);
});

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-node-data-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("a node opens its db, creates declared tables, serves changes through the cache and writes them back at stop", async (t) => {
  const dir = await tempDir(t);
  const config = { name: "game", tcp: [{ port: 0 }], db: `sqlite:${join(dir, "game.db")}`, data: { journal: join(dir, "journal"), flushIntervalMs: 60_000 } };
  const start = async () => {
    const node = new Node({ config, apps: [app], logger: captureLogger().logger });
    await node.start();
    return node;
  };
  let node = await start();
  const client = await connect(`tcp://127.0.0.1:${portOf(node, "tcp")}`, { reconnect: false });
  const id = await client.request(Create, { name: "ayla" });
  assert.equal(await client.request(Earn, { id, gold: 5 }), 5);
  assert.equal(await client.request(Earn, { id, gold: 7 }), 12);
  client.close();
  // Nothing written yet (the flush interval is a minute); stop writes it back.
  assert.equal(node.data.cache.stats.dirty > 0, true);
  await node.stop();
  const db = await openDatabase(`sqlite:${join(dir, "game.db")}`);
  try {
    const rows = (await db.kysely.selectFrom("node_heroes" as never).selectAll().execute()) as { id: bigint; name: string; gold: bigint }[];
    assert.deepEqual(
      rows.map((r) => ({ id: Number(r.id), name: r.name, gold: Number(r.gold) })),
      [{ id, name: "ayla", gold: 12 }],
    );
  } finally {
    await db.close();
  }
  // A restarted node sees it.
  node = await start();
  try {
    assert.equal((await node.data.cache.table(Heroes).get(id))?.gold, 12);
  } finally {
    await node.stop();
  }
  assert.throws(() => node.data.cache, /has not started/);
});

test("db and data settings are checked with the config; a node without db has no data", async () => {
  const bad = (config: Record<string, unknown>, re: RegExp) =>
    assert.throws(
      () => parseNodeConfig({ name: "n", ...config }),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => re.test(i)),
    );
  bad({ db: "mongodb://h/x" }, /^db: /);
  bad({ db: { url: "postgres://u:secret@h/x", poolSize: 0 } }, /^db\.poolSize/);
  bad({ db: { host: "h", user: "u", passwd: "p" } }, /^db\.db: expected the database name/);
  bad({ data: { journal: "j" } }, /^data: settings for the entity cache, and there is no db/);
  bad({ db: "sqlite::memory:", data: { fsync: "sometimes" } }, /^data\.fsync/);
  bad({ db: "sqlite::memory:", data: { unknown: 1 } }, /^data: unknown key/);
  assert.throws(() => parseNodeConfig({ name: "n", db: "postgres://u:secret@h" }), (err: unknown) => err instanceof ConfigError && !err.message.includes("secret"));

  const node = new Node({ config: { name: "plain" }, logger: captureLogger().logger });
  assert.equal(node.data.configured, false);
  assert.throws(() => node.data.cache, /its config has no db/);
  // Tables declared with no db: the node refuses to start rather than run without its data.
  const lost = new Node({ config: { name: "lost" }, apps: [defineApp((n) => n.data.tables(Heroes))], logger: captureLogger().logger });
  await assert.rejects(lost.start(), /declares tables and its config has no db/);
});

test("two nodes on one database with data.ownership (Redis): every client's addition lands, whichever node takes it", async (t) => {
  const dir = await tempDir(t);
  const prefix = `glowfly-test-${Math.random().toString(36).slice(2, 8)}`;
  const config = (name: string) => ({
    name,
    tcp: [{ port: 0 }],
    db: `sqlite:${join(dir, "shared.db")}`,
    data: { journal: join(dir, `journal-${name}`), flushIntervalMs: 60_000, ownership: { redis: "redis://127.0.0.1:6379", prefix, waitMs: 10_000 } },
  });
  const nodes: Node[] = [];
  try {
    for (const name of ["east", "west"]) {
      const node = new Node({ config: config(name), apps: [app], logger: captureLogger().logger });
      await node.start();
      nodes.push(node);
    }
  } catch (err) {
    for (const node of nodes) await node.stop();
    if (process.env.CI !== "true" && /Redis .* is not reachable/.test(String(err))) {
      t.skip(String(err));
      return;
    }
    throw err;
  }
  const clients = await Promise.all(nodes.map((n) => connect(`tcp://127.0.0.1:${portOf(n, "tcp")}`, { reconnect: false })));
  try {
    const id = await clients[0]!.request(Create, { name: "bryn" });
    await Promise.all(clients.flatMap((c) => Array.from({ length: 25 }, () => c.request(Earn, { id, gold: 1 }))));
    assert.equal(await clients[1]!.request(Earn, { id, gold: 0 }), 50, "both nodes' 25 additions, none lost");
  } finally {
    for (const c of clients) c.close();
    for (const node of nodes) await node.stop();
  }
});
