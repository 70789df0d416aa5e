/**
 * A whole cluster through the CLI: `glowfly start` runs the master, which spawns real node
 * processes; a killed node is restarted while the others keep serving; `glowfly status` and
 * `glowfly stop` talk to the admin API with the token.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { connect, type Client } from "../../src/client/index.ts";
import { Echo } from "../../examples/echo/commands.ts";
import { freePort, sleep, waitFor } from "../helpers.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "src/cli/main.ts");
const TOKEN = "cluster-test-token";

function glowfly(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, GLOWFLY_ADMIN_TOKEN: TOKEN },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

async function run(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = glowfly(args);
  let stdout = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  return { code, stdout };
}

interface NodeRow {
  name: string;
  state: string;
  pid: number | null;
  restarts: number;
  connections: number | null;
}

/** Write a two-node echo cluster config; returns its path and ports. */
async function echoCluster(): Promise<{ config: string; web: number; ports: [number, number]; logFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-cluster-"));
  const [web, p1, p2] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, "config.json");
  const app = join(ROOT, "examples/echo/app.ts");
  await writeFile(
    config,
    JSON.stringify({
      master: { webport: web, restart: { initialDelayMs: 100 } },
      servers: {
        game1: { netport: p1, frame: "native", app, log: "logs/game1.log" },
        game2: { netport: p2, frame: "native", app },
      },
    }),
  );
  return { config, web, ports: [p1, p2], logFile: join(dir, "logs/game1.log") };
}

async function statusOf(web: number): Promise<NodeRow[]> {
  const res = await fetch(`http://127.0.0.1:${web}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await res.json()) as { nodes: NodeRow[] }).nodes;
}

/** Start the master and wait until every node runs. */
async function startMaster(config: string): Promise<ChildProcess> {
  const master = glowfly(["start", config]);
  let out = "";
  master.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  master.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes("admin API"), 15_000, "the master to start");
  await waitFor(() => /node running.*game2/.test(out), 15_000, "both nodes to run");
  return master;
}

test("the master runs a cluster, restarts a killed node, reports status and stops on request", async () => {
  const { config, web, ports } = await echoCluster();
  const [p1, p2] = ports;
  const master = await startMaster(config);
  const clients: Client[] = [];
  const status = () => statusOf(web);
  try {
    const c1 = await connect(`tcp://127.0.0.1:${p1}`, { reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const c2 = await connect(`tcp://127.0.0.1:${p2}`, { reconnect: false });
    clients.push(c1, c2);
    assert.deepEqual(await c1.request(Echo, { text: "one" }), { text: "one" });
    // Nodes report over the registry link once a second; the status shows their clients.
    for (let i = 0; i < 60; i++) {
      const rows = await status();
      if (rows.every((n) => n.connections === 1)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual((await status()).map((n) => n.connections), [1, 1]);

    const before = (await status()).find((n) => n.name === "game1")!;
    assert.equal(before.state, "running");
    process.kill(before.pid!, "SIGKILL");
    // game2's client never notices.
    for (let i = 0; i < 20; i++) assert.deepEqual(await c2.request(Echo, { text: `two ${i}` }), { text: `two ${i}` });
    const deadline = Date.now() + 15_000;
    let after = before;
    while (!(after.state === "running" && after.restarts === 1)) {
      assert.ok(Date.now() < deadline, `game1 was not restarted: ${JSON.stringify(after)}`);
      await new Promise((r) => setTimeout(r, 50));
      after = (await status()).find((n) => n.name === "game1")!;
    }
    assert.notEqual(after.pid, before.pid);
    await waitFor(() => c1.state === "open", 10_000, "game1's client to reconnect by itself");
    assert.deepEqual(await c1.request(Echo, { text: "back" }), { text: "back" });

    const cli = await run(["status", config]);
    assert.equal(cli.code, 0);
    const rows = (JSON.parse(cli.stdout) as { nodes: NodeRow[] }).nodes;
    assert.deepEqual(rows.map((n) => [n.name, n.state]), [["game1", "running"], ["game2", "running"]]);

    const stopped = new Promise<number | null>((r) => master.once("exit", r));
    assert.equal((await run(["stop", config])).code, 0);
    assert.equal(await stopped, 0);
    for (const row of rows) assert.throws(() => process.kill(row.pid!, 0), /ESRCH/, `${row.name} is gone`);
  } finally {
    for (const c of clients) c.close();
    master.kill("SIGKILL");
  }
});

test("when the master is killed, nodes keep serving; a new master re-adopts them instead of starting others", async () => {
  const { config, web, ports, logFile } = await echoCluster();
  const master = await startMaster(config);
  const rows = await statusOf(web);
  const client = await connect(`tcp://127.0.0.1:${ports[0]}`, { reconnect: false });
  let second: ChildProcess | undefined;
  assert.match(await readFile(logFile, "utf8"), /listening node=game1/, "game1 logs to its own file");
  try {
    master.kill("SIGKILL");
    await new Promise((r) => master.once("exit", r));
    // Nodes now write their logs into a pipe nobody reads, and have lost their IPC channel.
    for (let i = 0; i < 50; i++) assert.deepEqual(await client.request(Echo, { text: `still ${i}` }), { text: `still ${i}` });
    const late = await connect(`tcp://127.0.0.1:${ports[1]}`, { reconnect: false });
    assert.deepEqual(await late.request(Echo, { text: "new client" }), { text: "new client" });
    late.close();
    assert.equal(client.state, "open");

    second = glowfly(["start", config]);
    second.stdout?.resume();
    second.stderr?.resume();
    let adopted: NodeRow[] = [];
    for (let i = 0; i < 150 && !(adopted.length === 2 && adopted.every((n) => n.state === "running")); i++) {
      await new Promise((r) => setTimeout(r, 100));
      adopted = await statusOf(web).catch(() => []);
    }
    assert.deepEqual(adopted.map((n) => [n.name, n.state, n.pid, n.restarts]), rows.map((n) => [n.name, "running", n.pid, 0]), "the same processes, not new ones");
    assert.deepEqual(await client.request(Echo, { text: "adopted" }), { text: "adopted" });
    // Its output pipe belonged to the dead master; its log file still gets what it says now.
    assert.equal((await run(["reload", config])).code, 0);
    await waitFor(() => readFileSync(logFile, "utf8").includes("reload requested"), 5000, "game1's reload line in its log file");
    // The new master supervises them: a killed node is restarted.
    process.kill(rows[1]!.pid!, "SIGKILL");
    let restarted: NodeRow | undefined;
    for (let i = 0; i < 150 && !(restarted?.state === "running" && restarted.restarts === 1); i++) {
      await new Promise((r) => setTimeout(r, 100));
      restarted = (await statusOf(web)).find((n) => n.name === "game2");
    }
    assert.equal(restarted?.restarts, 1);
    const stopped = new Promise<number | null>((r) => second?.once("exit", r));
    assert.equal((await run(["stop", config])).code, 0);
    assert.equal(await stopped, 0);
    assert.throws(() => process.kill(rows[0]!.pid!, 0), /ESRCH/, "the adopted node was stopped too");
    assert.throws(() => process.kill(restarted.pid!, 0), /ESRCH/);
  } finally {
    client.close();
    second?.kill("SIGKILL");
    for (const row of rows) {
      try {
        if (row.pid) process.kill(row.pid, "SIGKILL"); // only if a failure left it behind
      } catch {
        // gone already
      }
    }
  }
});

test("reload re-imports a node's reload module each time; it replaces a handler while clients stay connected", async () => {
  const { config, web, ports } = await echoCluster();
  // game2 gets a reload module (written fresh before each reload, so only a real re-import sees it).
  const dir = dirname(config);
  const spec = JSON.parse(await readFile(config, "utf8")) as { servers: Record<string, Record<string, unknown>> };
  spec.servers.game2!.reload = "reload.ts";
  await writeFile(config, JSON.stringify(spec));
  const version = (v: string) =>
    writeFile(
      join(dir, "reload.ts"),
      `import { Echo } from ${JSON.stringify(join(ROOT, "examples/echo/commands.ts"))};\n` +
        `export default (node) => node.commands.replace(Echo, (request) => ({ text: "${v}:" + request.text }));\n`,
    );
  await version("v1");
  const master = await startMaster(config);
  const client = await connect(`tcp://127.0.0.1:${ports[1]}`, { reconnect: false });
  try {
    assert.deepEqual(await client.request(Echo, { text: "a" }), { text: "a" });
    for (const v of ["v1", "v2"]) {
      await version(v);
      assert.equal((await run(["reload", config])).code, 0);
      let reply = "";
      for (let i = 0; i < 100 && reply !== `${v}:a`; i++) {
        if (i > 0) await sleep(50);
        reply = (await client.request(Echo, { text: "a" })).text;
      }
      assert.equal(reply, `${v}:a`, `the ${v} handler answers`);
    }
    assert.equal(client.state, "open", "the same connection throughout");
    assert.deepEqual((await statusOf(web)).map((n) => n.restarts), [0, 0], "no node was restarted");
  } finally {
    client.close();
    await run(["stop", config]);
    master.kill("SIGKILL");
  }
});
