/**
 * Seed 001, end to end: the Firefly config.json unchanged starts net, gate and game1 as real
 * processes under the master, and a client speaking Firefly's 17-byte frame gets the replies to
 * 100 (net), 200 (forwarded to gate) and 300 (forwarded through gate to game1).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { MessageType } from "../../src/index.ts";
import { RawClient, sleep, text, waitFor } from "../helpers.ts";

const ROOT = resolve(import.meta.dirname, "../..");

test("the Firefly demo answers 100, 200 and 300 to a Firefly client", async () => {
  const master = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "start", join(ROOT, "examples/firefly-demo/config.json")], {
    cwd: ROOT,
    env: { ...process.env, GLOWFLY_ADMIN_TOKEN: "demo-test-token" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  master.stdout.on("data", (d: Buffer) => (out += d.toString()));
  master.stderr.on("data", (d: Buffer) => (out += d.toString()));
  try {
    await waitFor(() => /node running.*game1/.test(out), 20_000, "the cluster to start");
    const client = await RawClient.open(10001, { frame: "firefly" });
    try {
      const expected: Record<number, string> = { 100: "netHandle_100 completed", 200: "gateHandle Completed", 300: "game1Handle completed" };
      for (const cmd of [100, 200, 300]) {
        // Nodes join the gate in their own time: until they have, the reply is an Unavailable error.
        let reply = "";
        for (let attempt = 0; attempt < 100 && reply !== expected[cmd]; attempt++) {
          if (attempt > 0) await sleep(100);
          client.send({ type: MessageType.Request, id: 0, command: cmd, body: new TextEncoder().encode("msgdata") });
          reply = text((await client.next((x) => x.command === cmd, 5000)).body);
        }
        assert.equal(reply, expected[cmd]);
      }

      // Faults: kill -9 game1, then the gate. Each time the rest keeps answering, the master
      // restarts the node, and its traffic resumes with nothing else restarted.
      const ask = async (cmd: number): Promise<string> => {
        client.send({ type: MessageType.Request, id: 0, command: cmd, body: new TextEncoder().encode("msgdata") });
        return text((await client.next((x) => x.command === cmd, 5000)).body);
      };
      const pidOf = async (name: string): Promise<number> => {
        const res = await fetch("http://127.0.0.1:9998/status", { headers: { authorization: "Bearer demo-test-token" } });
        const nodes = ((await res.json()) as { nodes: { name: string; pid: number; rpcPending: number | null }[] }).nodes;
        assert.ok(nodes.every((n) => "rpcPending" in n), "status reports in-flight RPCs");
        return nodes.find((n) => n.name === name)!.pid;
      };
      const until = async (cmd: number, want: string): Promise<void> => {
        let got = "";
        for (let attempt = 0; attempt < 150 && got !== want; attempt++) {
          if (attempt > 0) await sleep(100);
          got = await ask(cmd);
        }
        assert.equal(got, want, `command ${cmd} did not recover`);
      };
      const netPid = await pidOf("net");
      process.kill(await pidOf("game1"), "SIGKILL");
      const t0 = Date.now();
      const failed = await ask(300);
      assert.ok(Date.now() - t0 < 2000, "a command routed to the dead node fails fast");
      assert.match(failed, /"code":(9|6)/, `typed error for the dead node: ${failed}`);
      assert.equal(await ask(100), expected[100]);
      assert.equal(await ask(200), expected[200]);
      await until(300, expected[300]!);

      process.kill(await pidOf("gate"), "SIGKILL");
      assert.equal(await ask(100), expected[100], "net answers its own command without the gate");
      await until(200, expected[200]!); // net re-joins the restarted gate by itself
      await until(300, expected[300]!);
      assert.equal(await pidOf("net"), netPid, "net was never restarted");
    } finally {
      client.close();
    }
  } finally {
    master.kill("SIGTERM");
    await new Promise((r) => master.once("exit", r));
  }
});
