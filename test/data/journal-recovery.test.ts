/**
 * Damage on disk: a torn or checksum-failing last record is cut off at open; damage before the
 * end is a JournalCorruptError naming the segment and offset; a full disk (a real tmpfs) makes
 * appends fail with JournalWriteError and loses nothing acknowledged.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFile, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Journal,
  JournalCorruptError,
  JournalWriteError,
  type FsyncPolicy,
} from "../../src/data/journal/index.ts";
import { payload, replayAll, segmentFiles, tempDir } from "./journal-helpers.ts";

const RECORD = 16 + 84; // header + payload(i)

/** A closed journal of `count` 100-byte records; returns its segment files. */
async function written(dir: string, count: number, segmentBytes?: number): Promise<string[]> {
  const journal = await Journal.open(dir, { fsync: "off", segmentBytes });
  await Promise.all(Array.from({ length: count }, (_, i) => journal.append(payload(i + 1))));
  await journal.close();
  return segmentFiles(dir);
}

async function flipByte(path: string, offset: number): Promise<void> {
  const fh = await open(path, "r+");
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x40;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

/** Opens, checks the torn tail was cut at `offset` and records 1..kept replay, then appends on. */
async function expectTailCut(t: TestContext, dir: string, path: string, offset: number, kept: number): Promise<void> {
  const journal = await Journal.open(dir);
  t.after(() => journal.close());
  assert.equal(journal.discarded?.segment, path);
  assert.equal(journal.discarded.offset, offset);
  assert.equal((await stat(path)).size, offset, "the file is truncated to the last good record");
  const records = await replayAll(journal);
  assert.deepEqual(records.map((r) => r.seq), Array.from({ length: kept }, (_, i) => i + 1));
  records.forEach((r) => assert.deepEqual(Buffer.from(r.payload), payload(r.seq)));
  assert.equal(await journal.append(Buffer.from("after")), kept + 1, "appends continue after the last good record");
  const again = await replayAll(journal, kept + 1);
  assert.deepEqual(Buffer.from(again[0]!.payload), Buffer.from("after"));
}

test("torn tail: a last record cut in its payload is discarded, earlier records intact", async (t) => {
  const dir = await tempDir(t);
  const [path] = await written(dir, 20);
  await truncate(path!, 20 * RECORD - 30);
  await expectTailCut(t, dir, path!, 19 * RECORD, 19);
});

test("torn tail: a last record cut in its header is discarded", async (t) => {
  const dir = await tempDir(t);
  const [path] = await written(dir, 20);
  await truncate(path!, 19 * RECORD + 7);
  await expectTailCut(t, dir, path!, 19 * RECORD, 19);
});

test("torn tail: a flipped byte in the last record's payload fails its checksum and is discarded", async (t) => {
  const dir = await tempDir(t);
  const [path] = await written(dir, 20);
  await flipByte(path!, 19 * RECORD + 50);
  await expectTailCut(t, dir, path!, 19 * RECORD, 19);
});

test("torn tail: zeros after the last record (a power loss extending the file) are discarded", async (t) => {
  const dir = await tempDir(t);
  const [path] = await written(dir, 20);
  await appendFile(path!, Buffer.alloc(8192));
  await expectTailCut(t, dir, path!, 20 * RECORD, 20);
});

test("corruption before the end of the last segment: open fails with the segment and offset, file untouched", async (t) => {
  const dir = await tempDir(t);
  const [path] = await written(dir, 20);
  const before = await readFile(path!);
  await flipByte(path!, 4 * RECORD + 30); // payload of record 5
  const err = await Journal.open(dir).then(
    () => assert.fail("opened a corrupt journal"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof JournalCorruptError);
  assert.equal(err.segment, path);
  assert.equal(err.offset, 4 * RECORD);
  assert.match(err.message, /checksum/);
  assert.equal((await readFile(path!)).length, before.length, "nothing was cut");
});

test("a damaged length field before the end is corruption too, not a torn tail", async (t) => {
  const dir = await tempDir(t);
  const [path] = await written(dir, 20);
  const fh = await open(path!, "r+");
  await fh.write(Buffer.from([0xff, 0xff, 0x00, 0x00]), 0, 4, 10 * RECORD + 4); // claims 65535 bytes: past the end
  await fh.close();
  await assert.rejects(Journal.open(dir), (e: unknown) => e instanceof JournalCorruptError && e.offset === 10 * RECORD);
});

test("corruption in an earlier segment: replay fails with the segment and offset", async (t) => {
  const dir = await tempDir(t);
  const files = await written(dir, 50, 1000); // 10 records per segment
  assert.equal(files.length, 5);
  await flipByte(files[1]!, 9 * RECORD + 20); // the last record of segment 2 is not the journal's tail
  const journal = await Journal.open(dir);
  t.after(() => journal.close());
  const seen: number[] = [];
  const err = await (async () => {
    for await (const r of journal.replay()) seen.push(r.seq);
  })().then(
    () => assert.fail("replayed past corruption"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof JournalCorruptError);
  assert.equal(err.segment, files[1]);
  assert.equal(err.offset, 9 * RECORD);
  assert.equal(seen.length, 19, "records before the damage were delivered, none after");
});

/** A real small filesystem (tmpfs) at a fresh mount point, or null where mounting is not allowed. */
async function smallDisk(t: TestContext, bytes: number): Promise<string | null> {
  const mnt = await mkdtemp(join(tmpdir(), "glowfly-journal-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", mnt], { stdio: "ignore" });
  } catch {
    await rm(mnt, { recursive: true, force: true });
    return null;
  }
  t.after(async () => {
    execFileSync("umount", ["-l", mnt]); // lazy: a handle a failed test left open must not fail the hook
    await rm(mnt, { recursive: true, force: true });
  });
  return mnt;
}

for (const fsync of ["always", { groupMs: 2 }] as FsyncPolicy[]) {
  test(`full disk with fsync ${JSON.stringify(fsync)}: appends reject with JournalWriteError (ENOSPC), acknowledged records replay`, async (t) => {
    const mnt = await smallDisk(t, 64 * 1024);
    if (mnt === null) {
      t.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); the ENOSPC path is not exercised here");
      return;
    }
    const filler = join(mnt, "filler");
    await writeFile(filler, Buffer.alloc(16 * 1024));
    const dir = join(mnt, "journal");
    const journal = await Journal.open(dir, { fsync, segmentBytes: 8192 });
    const acked: number[] = [];
    const rejected: unknown[] = [];
    for (let round = 0; round < 1000 && rejected.length === 0; round++) {
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => journal.append(payload(round * 10 + i, 200))));
      for (const r of results) {
        if (r.status === "fulfilled") {
          assert.equal(rejected.length, 0, "nothing is acknowledged after a rejected append");
          acked.push(r.value);
        } else rejected.push(r.reason);
      }
    }
    t.diagnostic(`${acked.length} acknowledged, then ${rejected.length} rejected together`);
    assert.ok(acked.length > 20, `${acked.length} appends before the disk filled`);
    assert.ok(rejected.length > 0, "the disk filled up");
    for (const e of rejected) {
      assert.ok(e instanceof JournalWriteError);
      assert.equal(e.code, "ENOSPC");
    }
    await assert.rejects(journal.append(Buffer.from("more")), JournalWriteError, "refuses appends until reopened");
    await journal.close();

    // Still full: reopening and replaying work and give exactly the acknowledged records.
    const reopened = await Journal.open(dir, { fsync, segmentBytes: 8192 });
    const records = await replayAll(reopened);
    assert.deepEqual(records.map((r) => r.seq), acked);
    records.forEach((r, i) => assert.deepEqual(Buffer.from(r.payload), payload(i, 200)));
    await reopened.close();

    // Space freed: a reopened journal takes appends again, numbered after the acknowledged ones.
    await rm(filler);
    const recovered = await Journal.open(dir, { fsync, segmentBytes: 8192 });
    t.after(() => recovered.close());
    assert.equal(await recovered.append(Buffer.from("after")), acked.length + 1);
    assert.equal((await replayAll(recovered)).length, acked.length + 1);
  });
}
