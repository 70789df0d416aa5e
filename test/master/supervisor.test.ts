/** The supervisor with real child processes: restart with backoff, crash-loop fuse, ordered stop. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Supervisor, type ProcessSpec } from "../../src/master/supervisor.ts";
import { CrashHistory } from "../../src/master/restart-policy.ts";
import { captureLogger, sleep, waitFor } from "../helpers.ts";

/** A node stand-in: a real Node process running `code`. */
function proc(name: string, code: string, ready: "ipc" | "spawn" = "spawn"): ProcessSpec {
  return { name, command: process.execPath, args: ["-e", code], ready };
}

const LONG_RUNNING = "setInterval(() => {}, 1000)";

test("backoff doubles per crash and the fuse blows at maxCrashes within the window", () => {
  const history = new CrashHistory({ initialDelayMs: 100, maxDelayMs: 350, maxCrashes: 4, windowMs: 1000 });
  assert.equal(history.record(0), 100);
  assert.equal(history.record(10), 200);
  assert.equal(history.record(20), 350); // capped
  assert.equal(history.record(30), null); // 4 crashes within 1 s
  const spaced = new CrashHistory({ initialDelayMs: 100, maxDelayMs: 10_000, maxCrashes: 3, windowMs: 1000 });
  assert.equal(spaced.record(0), 100);
  assert.equal(spaced.record(2000), 100, "a crash outside the window starts over");
  assert.equal(spaced.record(2500), 200);
});

test("a crashed node is restarted; its pid changes and restarts are counted", async () => {
  const { logger } = captureLogger();
  const sup = new Supervisor({ specs: [proc("game1", LONG_RUNNING)], log: logger, restart: { initialDelayMs: 50 }, output: () => {} });
  try {
    await sup.startAll();
    const first = sup.status()[0]!;
    assert.equal(first.state, "running");
    process.kill(first.pid!, "SIGKILL");
    await waitFor(() => sup.status()[0]!.restarts === 1 && sup.status()[0]!.state === "running", 5000, "a restart");
    const second = sup.status()[0]!;
    assert.notEqual(second.pid, first.pid);
    assert.equal(second.lastExit, "signal SIGKILL");
  } finally {
    await sup.stopAll(2000);
  }
});

test("a crash-looping node stops being restarted and its status says why", async () => {
  const { logger } = captureLogger();
  const sup = new Supervisor({
    specs: [proc("bad", "process.exit(3)"), proc("good", LONG_RUNNING)],
    log: logger,
    restart: { initialDelayMs: 10, maxCrashes: 3, windowMs: 10_000 },
    output: () => {},
  });
  try {
    await sup.startAll();
    await waitFor(() => sup.status()[0]!.state === "crash-loop", 5000, "crash-loop");
    const bad = sup.status()[0]!;
    assert.equal(bad.restarts, 2);
    assert.match(bad.reason ?? "", /crashed 3 times within 10000 ms \(last exit: code 3\)/);
    await sleep(200);
    assert.equal(sup.status()[0]!.restarts, 2, "no restart after the fuse blew");
    assert.equal(sup.status()[1]!.state, "running", "other nodes are unaffected");
  } finally {
    await sup.stopAll(2000);
  }
});

test("ipc readiness: a node is running only after it says ready; one that never does is killed", async () => {
  const { logger } = captureLogger();
  const sup = new Supervisor({
    specs: [
      proc("ok", "setTimeout(() => process.send({ type: 'ready' }), 100); setInterval(() => {}, 1000)", "ipc"),
      proc("mute", LONG_RUNNING, "ipc"),
    ],
    log: logger,
    readyTimeoutMs: 300,
    restart: { initialDelayMs: 10_000 },
    output: () => {},
  });
  try {
    await sup.startAll();
    const [ok, mute] = sup.status();
    assert.equal(ok!.state, "running");
    assert.equal(mute!.state, "backoff");
    assert.match(mute!.reason ?? "", /not ready within 300 ms/);
  } finally {
    await sup.stopAll(2000);
  }
});

test("stop goes in reverse start order, gracefully, and kills what outlives the deadline", async () => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-sup-"));
  const journal = join(dir, "order.log");
  // Each stand-in appends its name on SIGTERM and exits; "stubborn" ignores SIGTERM.
  // Ready only once the handler is installed, so no SIGTERM can arrive before it.
  const graceful = (name: string) =>
    proc(name, `process.on('SIGTERM', () => { require('fs').appendFileSync(${JSON.stringify(journal)}, '${name}\\n'); process.exit(0); }); process.send({ type: 'ready' }); setInterval(() => {}, 1000)`, "ipc");
  const { logger } = captureLogger();
  const sup = new Supervisor({
    specs: [graceful("gate"), graceful("net"), proc("stubborn", "process.on('SIGTERM', () => {}); process.send({ type: 'ready' }); setInterval(() => {}, 1000)", "ipc"), graceful("game1")],
    log: logger,
    output: () => {},
  });
  await sup.startAll();
  const started = Date.now();
  await sup.stopAll(1500);
  const took = Date.now() - started;
  assert.deepEqual((await readFile(journal, "utf8")).trim().split("\n"), ["game1", "net", "gate"]);
  // stubborn is killed after its share (1500 ms / 3 nodes left) and costs no one else their grace.
  assert.ok(took >= 400 && took < 3000, `stop took ${took} ms with a 1500 ms deadline`);
  assert.deepEqual(sup.status().map((s) => s.state), ["stopped", "stopped", "stopped", "stopped"]);
  assert.equal(sup.status()[2]!.lastExit, "signal SIGKILL");
});

test("restart on demand replaces the process and clears a crash-loop", async () => {
  const { logger } = captureLogger();
  const sup = new Supervisor({ specs: [proc("game1", LONG_RUNNING)], log: logger, output: () => {} });
  try {
    await sup.startAll();
    const before = sup.status()[0]!.pid;
    await sup.restart("game1");
    const after = sup.status()[0]!;
    assert.equal(after.state, "running");
    assert.notEqual(after.pid, before);
    await assert.rejects(sup.restart("nope"), /no node named "nope"/);
  } finally {
    await sup.stopAll(2000);
  }
});
