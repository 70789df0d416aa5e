/** Helpers shared by the journal tests: temp folders, replay into an array, segment files. */
import type { TestContext } from "node:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Journal, JournalRecord } from "../../src/data/journal/index.ts";

/** A fresh folder, removed after the test. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-journal-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function replayAll(journal: Journal, from?: number): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const r of journal.replay(from)) out.push(r);
  return out;
}

/** The payload the tests append as record number `i`: its text and some filler, `size` bytes. */
export function payload(i: number, size = 84): Buffer {
  const text = `record ${i} `;
  return Buffer.from(text.padEnd(Math.max(size, text.length), String.fromCharCode(97 + (i % 26))));
}

/** Paths of the segment files in `dir`, in order. */
export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".seg")).sort().map((n) => join(dir, n));
}
