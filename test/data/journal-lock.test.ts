/** One writer per journal folder: a live owner keeps it, a dead owner's lock is taken over. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Journal, JournalLockedError } from "../../src/index.ts";
import { waitFor } from "../helpers.ts";

test("a second Journal on the same folder is refused until the first closes", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-jlock-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await Journal.open(dir);
  await assert.rejects(Journal.open(dir), JournalLockedError);
  await first.append(new Uint8Array([1]));
  await first.close();
  const second = await Journal.open(dir);
  assert.equal(second.stats.lastSeq, 1);
  await second.close();
});

test("a lock left by a process that died is taken over; one held by a live process is not", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-jlock-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dead = spawnSync(process.execPath, ["-e", ""]).pid;
  await writeFile(join(dir, "LOCK"), String(dead));
  const taken = await Journal.open(dir);
  await taken.close();
  // A live process holds it (a plain sleeper writing its own pid into the lock file).
  const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
  t.after(() => sleeper.kill("SIGKILL"));
  await waitFor(() => sleeper.pid !== undefined);
  await writeFile(join(dir, "LOCK"), String(sleeper.pid));
  await assert.rejects(Journal.open(dir), (e: unknown) => e instanceof JournalLockedError && e.message.includes(`process ${sleeper.pid}`));
  sleeper.kill("SIGKILL");
  await new Promise((r) => sleeper.once("exit", r));
  const after = await Journal.open(dir);
  await after.close();
});
