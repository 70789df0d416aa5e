/**
 * Segment files: `<first sequence number, 20 digits>.seg` in the journal folder. Each holds
 * records back to back, from the one numbered like the file, in increasing order; every record
 * of a segment is below the next segment's name.
 */
import { open, readdir, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

const NAME = /^(\d{20})\.seg$/;

export function segmentPath(dir: string, firstSeq: number): string {
  return join(dir, `${String(firstSeq).padStart(20, "0")}.seg`);
}

/** First sequence numbers of the segments in `dir`, ascending. */
export async function listSegments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  const firsts: number[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (m) firsts.push(Number(m[1]));
  }
  return firsts.sort((a, b) => a - b);
}

/**
 * Creates an empty segment and makes its directory entry durable, so that an fdatasync of
 * its first write is enough for that write to survive a power loss.
 */
export async function createSegment(dir: string, firstSeq: number): Promise<FileHandle> {
  const fh = await open(segmentPath(dir, firstSeq), "wx");
  try {
    await syncDir(dir);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

/** fsync of the directory itself: makes file creations and renames in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Deletes the leading segments whose every record is at or below `checkpoint` (a segment is
 * known to be so when the next one starts at checkpoint + 1 or lower). The last segment is
 * never deleted: it is the one appends go to. Mutates and returns `firsts`.
 */
export async function dropCheckpointed(dir: string, firsts: number[], checkpoint: number): Promise<number[]> {
  while (firsts.length > 1 && firsts[1]! - 1 <= checkpoint) {
    await unlink(segmentPath(dir, firsts[0]!)).catch(ignoreMissing);
    firsts.shift();
  }
  return firsts;
}

export function ignoreMissing(err: unknown): void {
  if (!isMissing(err)) throw err;
}

export function isMissing(err: unknown): boolean {
  return typeof err === "object" && err !== null && "code" in err && err.code === "ENOENT";
}
