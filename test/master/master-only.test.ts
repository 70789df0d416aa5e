/**
 * Several hosts, Firefly's `single master` / `single <name>`: a --master-only master spawns
 * nothing; a node started alone with --node and --master joins it over the network, reattaches
 * by itself to a new master after the first one is killed, and stops when the master says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "../../src/client/index.ts";
import { Echo } from "../../examples/echo/commands.ts";
import { freePort, waitFor } from "../helpers.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const TOKEN = "master-only-token";

function glowfly(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    // No GLOWFLY_MASTER: the node must find the master from --master alone.
    env: { ...process.env, GLOWFLY_ADMIN_TOKEN: TOKEN, GLOWFLY_MASTER: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  return { child, output: () => out, exited };
}

interface Row {
  name: string;
  state: string;
  pid: number | null;
}

async function rows(web: number): Promise<Row[]> {
  const res = await fetch(`http://127.0.0.1:${web}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await res.json()) as { nodes: Row[] }).nodes;
}

async function until(web: number, want: (r: Row[]) => boolean, what: string): Promise<Row[]> {
  for (let i = 0; i < 150; i++) {
    try {
      const r = await rows(web);
      if (want(r)) return r;
    } catch {
      // the master is not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("a node joins a --master-only master over the network, reattaches to a new master, and stops on request", async () => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-master-only-"));
  const [web, registry, netport] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, "config.json");
  await writeFile(config, JSON.stringify({ master: { webport: web, rootport: registry }, servers: { game1: { netport, frame: "native", app: join(ROOT, "examples/echo/app.ts") } } }));
  let master = glowfly(["start", config, "--master-only"]);
  const node = glowfly(["start", config, "--node", "game1", "--master", `127.0.0.1:${registry}`]);
  try {
    await until(web, (r) => r[0]?.state === "absent" || r[0]?.state === "running", "the master");
    const joined = await until(web, (r) => r[0]?.state === "running", "game1 to join");
    assert.equal(joined[0]!.pid, node.child.pid, "the master reports the node's own pid");
    const client = await connect(`tcp://127.0.0.1:${netport}`, { reconnect: false });
    assert.deepEqual(await client.request(Echo, { text: "hi" }), { text: "hi" });

    master.child.kill("SIGKILL");
    await master.exited;
    assert.deepEqual(await client.request(Echo, { text: "alone" }), { text: "alone" }, "the node serves without a master");
    master = glowfly(["start", config, "--master-only"]);
    const again = await until(web, (r) => r[0]?.state === "running", "game1 to reattach to the new master");
    assert.equal(again[0]!.pid, node.child.pid, "the same process, re-adopted");
    const restart = await fetch(`http://127.0.0.1:${web}/nodes/game1/restart`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(restart.status, 409, "a master that spawned nothing cannot restart");
    client.close();

    const stop = await fetch(`http://127.0.0.1:${web}/stop`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(stop.status, 202);
    assert.equal(await node.exited, 0, "the node stopped gracefully when the master asked");
    assert.equal(await master.exited, 0);
    await waitFor(() => node.output().includes("the master asked"), 1000, "the node to say why it stopped");
  } finally {
    node.child.kill("SIGKILL");
    master.child.kill("SIGKILL");
  }
});
