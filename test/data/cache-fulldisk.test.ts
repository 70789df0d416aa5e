/**
 * The entity cache's journal on a full disk (a real, small tmpfs): writers change rows until the
 * journal cannot write; from then on every change is refused at once with the journal's ENOSPC
 * error (no hang, nothing acknowledged after the first refusal, nothing refused applied in
 * memory). What was acknowledged is all there, and nothing else: in the database once the cache
 * flushes, in a database rebuilt from the journal alone (copied to a bigger folder), after a
 * restart on the still full disk, and after space is freed and the cache reopened on the same
 * folder, which then takes changes again.
 *
 * Mounting needs root (CAP_SYS_ADMIN): without it the test is skipped with the reason, unless
 * CI=true, where it fails.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntityCache, EntityNotFoundError, Journal, JournalWriteError, openDatabase, syncSchema, type Database, type FsyncPolicy } from "../../src/index.ts";
import { sleep } from "../helpers.ts";
import { Players } from "./cache-tables.ts";

const WRITERS = 8;
/** A change that has not settled after this long is a hang. */
const SETTLE_MS = 5000;

/** A real small filesystem (tmpfs) at a fresh mount point, or the reason it cannot be had. */
async function smallDisk(t: TestContext, bytes: number): Promise<string | { reason: string }> {
  const mnt = await mkdtemp(join(tmpdir(), "glowfly-cache-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", mnt], { stdio: "pipe" });
  } catch (error) {
    await rm(mnt, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { reason: `cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): ${(stderr || String(error)).replace(/\s+/g, " ")}` };
  }
  t.after(async () => {
    execFileSync("umount", ["-l", mnt]); // lazy: a handle a failed test left open must not fail the hook
    await rm(mnt, { recursive: true, force: true });
  });
  return mnt;
}

/** The promise's outcome, or a failure naming `what` if it has not settled within SETTLE_MS. */
async function settled<T>(promise: Promise<T>, what: string): Promise<PromiseSettledResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} has not settled after ${SETTLE_MS} ms: the cache hangs`)), SETTLE_MS);
  });
  try {
    return await Promise.race([Promise.allSettled([promise]).then(([r]) => r), hang]);
  } finally {
    clearTimeout(timer);
  }
}

function assertDiskFull(error: unknown, what: string): void {
  assert.ok(error instanceof JournalWriteError, `${what}: expected a JournalWriteError, got ${String(error)}`);
  assert.equal(error.code, "ENOSPC", what);
  assert.match(error.message, /ENOSPC|no space/, what);
}

/** What was acknowledged, and what was refused. */
interface Acked {
  /** Writer w's row w+1: the gold of its last acknowledged update (0: its create). */
  gold: number[];
  created: Set<number>;
  refusedCreates: Set<number>;
  /** Acknowledged changes, the rows' own creates included: the journal records that must replay. */
  count: number;
}

/** The table holds exactly what was acknowledged: the writers' rows with their last acknowledged gold, the acknowledged creates, nothing else. */
async function assertExactly(db: Database, acked: Acked, where: string): Promise<void> {
  const own = await db.getByIndex(Players, "guild", null);
  assert.deepEqual(
    own.map((r) => [r.id, r.gold]),
    acked.gold.map((gold, w) => [w + 1, gold]),
    `${where}: each writer's row holds its last acknowledged gold`,
  );
  for (let w = 0; w < WRITERS; w++) {
    const ids = (await db.getByIndex(Players, "guild", w)).map((r) => r.id);
    const expected = [...acked.created].filter((id) => Math.floor(id / 100_000) === w + 1).sort((a, b) => a - b);
    assert.deepEqual(ids, expected, `${where}: writer ${w}'s acknowledged creates, and none it was refused`);
  }
}

async function copyJournal(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) if (name.endsWith(".seg") || name === "checkpoint") await copyFile(join(from, name), join(to, name));
}

for (const fsync of ["always", { groupMs: 2 }] as FsyncPolicy[]) {
  test(`journal on a full disk (fsync ${JSON.stringify(fsync)}): changes are refused with ENOSPC at once; everything acknowledged survives, nothing refused appears`, async (t) => {
    const mnt = await smallDisk(t, 64 * 1024);
    if (typeof mnt !== "string") {
      if (process.env.CI === "true") throw new Error(`${mnt.reason} (CI=true: the full-disk path must be exercised)`);
      t.skip(mnt.reason);
      return;
    }
    const work = await mkdtemp(join(tmpdir(), "glowfly-cache-full-db-"));
    t.after(() => rm(work, { recursive: true, force: true }));
    const filler = join(mnt, "filler");
    await writeFile(filler, Buffer.alloc(16 * 1024));
    const journalDir = join(mnt, "journal");
    const url = `sqlite:${join(work, "game.db")}`;

    const db = await openDatabase(url);
    t.after(() => db.close());
    await syncSchema(db, [Players]);
    const journal = await Journal.open(journalDir, { fsync, segmentBytes: 8192 });
    t.after(() => journal.close());
    // No write-back until asked: checkpoints would free journal space and the disk would not fill.
    const cache = await EntityCache.open({ db, journal, tables: [Players], flushIntervalMs: 3_600_000 });
    t.after(() => cache.close().catch(() => undefined));
    const players = cache.table(Players);

    const acked: Acked = { gold: new Array<number>(WRITERS).fill(0), created: new Set(), refusedCreates: new Set(), count: 0 };
    for (let w = 0; w < WRITERS; w++) {
      await players.create({ id: w + 1, name: `p${w + 1}` });
      acked.count++;
    }
    // Each writer changes its own row and creates rows of its own id range, one change at a
    // time, until a change is refused.
    const events: string[] = [];
    const refusals: { what: string; error: unknown }[] = [];
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let k = 1; k < 100_000; k++) {
          const id = (w + 1) * 100_000 + k;
          const what = k % 4 === 0 ? `create of row ${id}` : `update ${k} of row ${w + 1}`;
          const result = await settled(k % 4 === 0 ? players.create({ id, name: `n${id}`, guild: w }) : players.update(w + 1, { gold: k }), what);
          if (result.status === "rejected") {
            events.push("refused");
            refusals.push({ what, error: result.reason });
            if (k % 4 === 0) acked.refusedCreates.add(id);
            return;
          }
          events.push("acked");
          acked.count++;
          if (k % 4 === 0) acked.created.add(id);
          else acked.gold[w] = k;
        }
        assert.fail(`writer ${w}: the disk never filled`);
      }),
    );
    t.diagnostic(`${acked.count} changes acknowledged, then ${refusals.length} refused: ${String(refusals[0]?.error)}`);
    assert.ok(acked.count > 100, `${acked.count} changes before the disk filled`);
    assert.equal(refusals.length, WRITERS, "every writer was refused once");
    for (const { what, error } of refusals) assertDiskFull(error, what);
    assert.ok(events.lastIndexOf("acked") < events.indexOf("refused"), "nothing is acknowledged after the first refusal");

    // From now on every change is refused at once, and nothing refused was applied in memory.
    for (const [what, change] of [
      ["an update", () => players.update(1, { gold: 999_999 })],
      ["a create", () => players.create({ id: 999_999, name: "late", guild: 0 })],
      ["a delete", () => players.delete(2)],
    ] as const) {
      const started = Date.now();
      const result = await settled<unknown>(change(), `${what} after the disk filled`);
      assert.equal(result.status, "rejected", `${what} after the disk filled is refused`);
      if (result.status === "rejected") assertDiskFull(result.reason, `${what} after the disk filled`);
      assert.ok(Date.now() - started < 1000, `${what} was refused at once (${Date.now() - started} ms)`);
    }
    for (let w = 0; w < WRITERS; w++) assert.equal((await players.get(w + 1))?.gold, acked.gold[w], `row ${w + 1} in the cache: its last acknowledged gold`);
    for (const id of [...acked.refusedCreates, 999_999]) assert.equal(await players.get(id), undefined, `refused create of row ${id} is not in the cache`);
    assert.equal(cache.stats.dirty, WRITERS + acked.created.size, "only acknowledged changes are owed to the database");

    // The journal as the crash would leave it: copied to a bigger folder (the journal truncates
    // the refused bytes right after it rejects them: give it a moment).
    await sleep(200);
    const bigger = join(work, "journal-copy");
    await copyJournal(journalDir, bigger);

    // 1. The cache flushes what it acknowledged, the disk still full.
    const flushed = await settled(cache.flush(), "a flush with the journal's disk full");
    t.diagnostic(`flush on the full disk: ${flushed.status === "fulfilled" ? "resolved" : `rejected: ${String(flushed.reason)}`}`);
    // The data reaches the database either way; only the checkpoint file may not fit on the full disk.
    if (flushed.status === "rejected") assertDiskFull(flushed.reason, "the flush's checkpoint");
    await assertExactly(db, acked, "the database after the cache flushed");
    assert.equal(cache.stats.dirty, 0);

    // 2. A database rebuilt from the journal alone: exactly the acknowledged changes replay.
    const rebuiltDb = await openDatabase(`sqlite:${join(work, "rebuilt.db")}`);
    try {
      await syncSchema(rebuiltDb, [Players]);
      const copy = await Journal.open(bigger);
      try {
        const rebuilt = await EntityCache.open({ db: rebuiltDb, journal: copy, tables: [Players] });
        assert.equal(rebuilt.stats.replayed, acked.count, "the journal holds every acknowledged change and no refused one");
        await rebuilt.close();
      } finally {
        await copy.close();
      }
      await assertExactly(rebuiltDb, acked, "a database rebuilt from the journal");
    } finally {
      await rebuiltDb.close();
    }

    // 3. The node restarts on the still full disk: the cache either opens (replay changes nothing)
    // or refuses to with the journal's ENOSPC error (the checkpoint after replay does not fit).
    const closed = await settled(cache.close(), "closing the cache on the full disk");
    if (closed.status === "rejected") assertDiskFull(closed.reason, "closing the cache on the full disk");
    await journal.close();
    const stillFull = await Journal.open(journalDir, { fsync, segmentBytes: 8192 });
    try {
      const restarted = await settled(EntityCache.open({ db, journal: stillFull, tables: [Players] }), "reopening the cache on the full disk");
      t.diagnostic(`close on the full disk: ${closed.status === "fulfilled" ? "resolved" : `rejected: ${String(closed.reason)}`}; reopening on it: ${restarted.status === "fulfilled" ? "opened" : `rejected: ${String(restarted.reason)}`}`);
      if (restarted.status === "fulfilled") await restarted.value.close().catch(() => undefined);
      else assertDiskFull(restarted.reason, "reopening the cache on the full disk");
    } finally {
      await stillFull.close();
    }
    await assertExactly(db, acked, "the database after a restart on the full disk");

    // 4. Space freed, the cache reopened on the same folder: replay changes nothing, changes are taken again.
    await rm(filler);
    const reopenedJournal = await Journal.open(journalDir, { fsync, segmentBytes: 8192 });
    t.after(() => reopenedJournal.close());
    const reopened = await EntityCache.open({ db, journal: reopenedJournal, tables: [Players], flushIntervalMs: 3_600_000 });
    t.after(() => reopened.close().catch(() => undefined));
    await assertExactly(db, acked, "the database after reopening");
    const again = reopened.table(Players);
    await again.update(1, { gold: 123_456 });
    await assert.rejects(again.update(999_999, { gold: 1 }), EntityNotFoundError);
    await reopened.flush();
    assert.equal((await db.getRows(Players, [1])).get(1)?.gold, 123_456, "a change after the space was freed reaches the database");
  });
}
