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
    } finally {
      client.close();
    }
  } finally {
    master.kill("SIGTERM");
    await new Promise((r) => master.once("exit", r));
  }
});
