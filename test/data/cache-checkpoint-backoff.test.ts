/**
 * Regression: a write-back whose journal checkpoint cannot be written (the journal's disk is full)
 * was retried in a tight loop (~400 checkpoint calls a second, uncounted, unlogged). Now it is
 * counted in stats.failures with the error in stats.lastError, and retried with a backoff.
 *
 * Setup: an EntityCache with a journal on a 64 KiB tmpfs, flushIntervalMs 200; 50 rows created;
 * the rest of the disk filled by another file; 10 updates (they fit in the segment's last page,
 * so they are acknowledged). The timer's write-back lands in the database; its checkpoint fails
 * with ENOSPC.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntityCache, Journal, openDatabase, syncSchema } from "../../src/index.ts";
import { sleep, waitFor } from "../helpers.ts";
import { Players } from "./cache-tables.ts";

test("a write-back whose checkpoint fails on a full disk is retried with backoff and counted", async (t) => {
  const mnt = await mkdtemp(join(tmpdir(), "glowfly-cache-spin-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=65536", "tmpfs", mnt], { stdio: "pipe" });
  } catch (error) {
    await rm(mnt, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs: ${String(error)}`);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), "glowfly-cache-spin-db-"));
  const db = await openDatabase(`sqlite:${join(work, "game.db")}`);
  await syncSchema(db, [Players]);
  const journal = await Journal.open(join(mnt, "journal"), { segmentBytes: 8192 });
  let checkpoints = 0;
  const checkpoint = journal.checkpoint.bind(journal);
  journal.checkpoint = (seq: number) => {
    checkpoints++;
    return checkpoint(seq);
  };
  const cache = await EntityCache.open({ db, journal, tables: [Players], flushIntervalMs: 200 });
  t.after(async () => {
    await rm(join(mnt, "filler"), { force: true }); // lets the loop end
    await cache.close().catch(() => undefined);
    await journal.close();
    await db.close();
    execFileSync("umount", ["-l", mnt]);
    await rm(mnt, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });
  const players = cache.table(Players);
  for (let id = 1; id <= 50; id++) await players.create({ id, name: `p${id}` });
  const filler = await open(join(mnt, "filler"), "w");
  try {
    for (;;) await filler.write(Buffer.alloc(4096));
  } catch {
    // full
  } finally {
    await filler.close();
  }
  for (let id = 1; id <= 10; id++) await players.update(id, { gold: id });
  await waitFor(() => cache.stats.dirty === 0, 3000, "the timer's write-back");
  assert.equal((await db.getRows(Players, [10])).get(10)?.gold, 10, "the write-back itself landed");
  await sleep(200);
  const before = checkpoints;
  await sleep(1000);
  const attempts = checkpoints - before;
  t.diagnostic(`checkpoint attempts in 1 s: ${attempts}; stats ${JSON.stringify(cache.stats)}`);
  assert.ok(attempts <= 20, `${attempts} checkpoint attempts in one second: retried without backoff`);
  assert.ok(cache.stats.failures >= 1, "the failed write-back is counted");
  assert.match(cache.stats.lastError ?? "", /ENOSPC/);
});
