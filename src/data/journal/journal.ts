/**
 * The write-ahead journal of one node: append records, replay what is not yet checkpointed,
 * checkpoint what is safe elsewhere. Format and guarantees: docs/journal.md.
 */
import { mkdir, open, type FileHandle } from "node:fs/promises";
import { Appender, type JournalStats } from "./appender.ts";
import { readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
import { JournalClosedError, JournalCorruptError, JournalWriteError } from "./errors.ts";
import { lockJournal } from "./lock.ts";
import { resolveOptions, type JournalOptions, type ResolvedOptions } from "./options.ts";
import { readSegment } from "./reader.ts";
import { recoverTail, type Discarded } from "./recover.ts";
import { createSegment, dropCheckpointed, isMissing, listSegments, segmentPath } from "./segments.ts";

export interface JournalRecord {
  seq: number;
  payload: Uint8Array;
}

export interface JournalStatus extends JournalStats {
  /** Highest sequence number handed out (acknowledged or not). */
  lastSeq: number;
  /** Highest checkpointed sequence number (0: none). */
  checkpoint: number;
  /** Segment files on disk. */
  segments: number;
}

export class Journal {
  private closed = false;
  private checkpointChain: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly appender: Appender,
    /** First sequence numbers of the segment files, ascending; the last one is being appended to. */
    private readonly segments: number[],
    private checkpointed: number,
    /** What opening cut off the end of the last segment (a torn tail), if anything. */
    readonly discarded: Discarded | null,
    private readonly unlock: () => Promise<void>,
  ) {}

  /**
   * Opens (creating if needed) the journal in `dir`: drops fully checkpointed segments, cuts a
   * torn tail off the last segment, and continues numbering after the highest record or
   * checkpoint. Throws JournalCorruptError if the last segment is damaged before its end.
   */
  static async open(dir: string, options?: JournalOptions): Promise<Journal> {
    const resolved = resolveOptions(options);
    await mkdir(dir, { recursive: true });
    const unlock = await lockJournal(dir);
    try {
      return await Journal.openLocked(dir, resolved, unlock);
    } catch (error) {
      await unlock();
      throw error;
    }
  }

  private static async openLocked(dir: string, resolved: ResolvedOptions, unlock: () => Promise<void>): Promise<Journal> {
    const checkpointed = await readCheckpoint(dir);
    const segments = await dropCheckpointed(dir, await listSegments(dir), checkpointed);
    let discarded: Discarded | null = null;
    let lastSeq = checkpointed;
    let size = 0;
    let fh: FileHandle;
    const last = segments.at(-1);
    if (last === undefined) {
      fh = await createSegment(dir, checkpointed + 1);
      segments.push(checkpointed + 1);
    } else {
      const tail = await recoverTail(segmentPath(dir, last), last - 1);
      discarded = tail.discarded;
      size = tail.end;
      lastSeq = Math.max(lastSeq, tail.lastSeq ?? last - 1);
      fh = await open(segmentPath(dir, last), "r+");
    }
    const firstSeq = segments.at(-1)!;
    const appender = new Appender(resolved, { fh, firstSeq, size, dirty: false }, lastSeq + 1, async (first) => {
      const next = await createSegment(dir, first);
      segments.push(first);
      return next;
    });
    return new Journal(dir, appender, segments, checkpointed, discarded, unlock);
  }

  /**
   * Appends one record. Resolves with its sequence number once it is durable according to the
   * fsync policy. Rejects with JournalBackpressureError (too many bytes not yet durable),
   * JournalWriteError (write/fsync failed; the journal then refuses appends until reopened),
   * JournalClosedError, or RangeError (record too large).
   */
  append(payload: Uint8Array): Promise<number> {
    return this.appender.append(payload);
  }

  /**
   * Every acknowledged record above the checkpoint with seq >= `from`, in order. Reads what was
   * acknowledged when iteration starts. Throws JournalCorruptError on a damaged record.
   */
  async *replay(from = 1): AsyncGenerator<JournalRecord> {
    const floor = Math.max(from - 1, this.checkpointed);
    const segments = [...this.segments];
    const durable = this.appender.durable;
    let prev = 0;
    for (let i = 0; i < segments.length; i++) {
      const first = segments[i]!;
      const next = segments[i + 1];
      if (first > durable.firstSeq) break;
      if (next !== undefined && next - 1 <= floor) continue;
      const path = segmentPath(this.dir, first);
      const limit = first === durable.firstSeq ? durable.end : Infinity;
      try {
        for await (const item of readSegment(path, Math.max(prev, first - 1), limit)) {
          if (item.kind === "bad") throw new JournalCorruptError(path, item.offset, item.reason);
          prev = item.seq;
          if (item.seq > floor) yield { seq: item.seq, payload: item.payload };
        }
      } catch (err) {
        // Only a checkpoint deletes segments, and only ones whose records are all checkpointed.
        if (!isMissing(err)) throw err;
      }
    }
  }

  /**
   * Records up to `seq` are safe elsewhere: the checkpoint is made durable, then every segment
   * whose records are all at or below it is deleted. Replay never returns them again.
   */
  checkpoint(seq: number): Promise<void> {
    if (this.closed) return Promise.reject(new JournalClosedError());
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > this.appender.lastSeq) {
      return Promise.reject(new RangeError(`journal checkpoint ${seq}: expected an integer from 0 to ${this.appender.lastSeq}`));
    }
    const run = this.checkpointChain.then(() => this.applyCheckpoint(seq));
    this.checkpointChain = run.catch(() => undefined);
    return run;
  }

  get stats(): JournalStatus {
    return {
      ...this.appender.stats,
      lastSeq: this.appender.lastSeq,
      checkpoint: this.checkpointed,
      segments: this.segments.length,
    };
  }

  /** Writes and syncs everything appended, then closes. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.appender.close(); // refuses appends from here on
    await this.checkpointChain;
    await this.unlock();
  }

  private async applyCheckpoint(seq: number): Promise<void> {
    if (seq <= this.checkpointed) return;
    try {
      await writeCheckpoint(this.dir, seq);
    } catch (err) {
      throw new JournalWriteError(`journal checkpoint write failed: ${String(err)}`, { cause: err });
    }
    this.checkpointed = seq;
    await dropCheckpointed(this.dir, this.segments, seq);
  }
}
