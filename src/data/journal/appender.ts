/**
 * The write side of the journal: a bounded queue of framed records, written in batches (one
 * writev + at most one fdatasync per batch) to the active segment according to the fsync
 * policy. One batch is in flight at a time, so records reach the file, and appends resolve,
 * in sequence order.
 */
import type { FileHandle } from "node:fs/promises";
import { JournalBackpressureError, JournalClosedError, JournalWriteError } from "./errors.ts";
import type { ResolvedOptions } from "./options.ts";
import { encodeRecord, HEADER_BYTES, MAX_PAYLOAD_BYTES } from "./record.ts";

export interface ActiveSegment {
  fh: FileHandle;
  firstSeq: number;
  /** Bytes written to the file. */
  size: number;
  /** Written since the last fdatasync. */
  dirty: boolean;
}

/** Where acknowledged data ends: readers stop there. */
export interface DurablePoint {
  firstSeq: number;
  end: number;
}

export interface JournalStats {
  /** Appends accepted (given a sequence number). */
  appends: number;
  /** Batches written (each one writev, possibly split by the OS). */
  writes: number;
  /** fdatasync calls on segment files. */
  syncs: number;
  /** Record bytes written, headers included. */
  bytes: number;
  /** Bytes accepted but not yet acknowledged. */
  unsyncedBytes: number;
}

interface Pending {
  seq: number;
  frame: Buffer;
  resolve: (seq: number) => void;
  reject: (err: Error) => void;
}

/** Opens the segment that starts at `firstSeq` once the active one is full. */
export type NextSegment = (firstSeq: number) => Promise<FileHandle>;

export class Appender {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private cancelTimer: (() => void) | undefined;
  private lastFlushAt = -Infinity;
  private failure: JournalWriteError | undefined;
  private closed = false;
  private durablePoint: DurablePoint;
  private readonly counters: JournalStats = { appends: 0, writes: 0, syncs: 0, bytes: 0, unsyncedBytes: 0 };

  constructor(
    private readonly options: ResolvedOptions,
    private active: ActiveSegment,
    private nextSeq: number,
    private readonly nextSegment: NextSegment,
  ) {
    this.durablePoint = { firstSeq: active.firstSeq, end: active.size };
  }

  get stats(): JournalStats {
    return { ...this.counters };
  }

  /** Highest sequence number handed out so far (acknowledged or not). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  get durable(): DurablePoint {
    return { ...this.durablePoint };
  }

  append(payload: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new JournalClosedError());
    if (this.failure) return Promise.reject(this.failure);
    const bytes = HEADER_BYTES + payload.length;
    if (payload.length > MAX_PAYLOAD_BYTES || bytes > this.options.maxUnsyncedBytes) {
      return Promise.reject(
        new RangeError(`journal record of ${payload.length} bytes: above ${MAX_PAYLOAD_BYTES} or maxUnsyncedBytes ${this.options.maxUnsyncedBytes}`),
      );
    }
    if (this.counters.unsyncedBytes + bytes > this.options.maxUnsyncedBytes) {
      return Promise.reject(new JournalBackpressureError(this.counters.unsyncedBytes, this.options.maxUnsyncedBytes));
    }
    const seq = this.nextSeq++;
    this.counters.appends++;
    this.counters.unsyncedBytes += bytes;
    const frame = encodeRecord(seq, payload);
    const done = new Promise<number>((resolve, reject) => this.queue.push({ seq, frame, resolve, reject }));
    this.schedule();
    return done;
  }

  /** Writes and syncs everything queued, then closes the segment file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.schedule(); // each flush's end starts the next at once now that `closed` is set
    while (this.flushing) await this.flushing;
    try {
      if (!this.failure && this.active.dirty) await this.sync();
    } catch (err) {
      throw new JournalWriteError(`journal: final fdatasync failed: ${String(err)}`, { cause: err });
    } finally {
      await this.active.fh.close();
    }
  }

  /**
   * Starts the next batch: for a group policy at most one per groupMs (an append after an idle
   * spell goes at once); otherwise as soon as the previous batch is done. Deferred by at least
   * one turn (until close) so that appends made in the same turn share a batch.
   */
  private schedule(): void {
    if (this.flushing || this.cancelTimer || this.queue.length === 0 || this.failure) return;
    const start = (): void => {
      this.cancelTimer = undefined;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        this.schedule();
      });
    };
    const delay = this.lastFlushAt + this.options.groupMs - performance.now();
    if (this.closed) {
      start(); // nothing can join any more; close() awaits the chain of flushes
    } else if (delay > 0) {
      const timer = setTimeout(start, Math.ceil(delay));
      this.cancelTimer = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(start);
      this.cancelTimer = () => clearImmediate(immediate);
    }
  }

  /** Writes one batch. Never rejects: a failure rejects the affected appends instead. */
  private async flush(): Promise<void> {
    this.lastFlushAt = performance.now();
    let batch: Pending[] = [];
    try {
      const { segmentBytes } = this.options;
      if (this.active.size > 0 && this.active.size + this.queue[0]!.frame.length > segmentBytes) {
        await this.roll(this.queue[0]!.seq);
      }
      let bytes = 0;
      let n = 0;
      for (; n < this.queue.length; n++) {
        const len = this.queue[n]!.frame.length;
        if (n > 0 && this.active.size + bytes + len > segmentBytes) break;
        bytes += len;
      }
      batch = this.queue.splice(0, n);
      await writeAll(
        this.active.fh,
        batch.map((p) => p.frame),
        this.active.size,
      );
      this.active.dirty = true;
      this.counters.writes++;
      this.counters.bytes += bytes;
      if (this.options.sync) await this.sync();
      this.active.size += bytes;
      this.counters.unsyncedBytes -= bytes;
      this.durablePoint = { firstSeq: this.active.firstSeq, end: this.active.size };
      for (const p of batch) p.resolve(p.seq);
    } catch (err) {
      await this.fail(err, batch);
    }
  }

  private async sync(): Promise<void> {
    await this.active.fh.datasync();
    this.active.dirty = false;
    this.counters.syncs++;
  }

  /** The full segment is synced before the next exists, so only the last one can be torn. */
  private async roll(firstSeq: number): Promise<void> {
    if (this.active.dirty) await this.sync();
    const full = this.active.fh;
    this.active = { fh: await this.nextSegment(firstSeq), firstSeq, size: 0, dirty: false };
    await full.close();
  }

  /**
   * Rejects the batch and everything queued, and stops taking appends: after a failed write or
   * fdatasync the file's state is only known again by reading it (reopen). The unacknowledged
   * bytes are cut off if possible, so rejected records do not come back on replay.
   */
  private async fail(cause: unknown, batch: Pending[]): Promise<void> {
    const err = new JournalWriteError(`journal write failed: ${String(cause)}`, { cause });
    this.failure = err;
    const rejected = batch.concat(this.queue);
    this.queue = [];
    this.counters.unsyncedBytes = 0;
    for (const p of rejected) p.reject(err);
    await this.active.fh.truncate(this.active.size).catch(() => undefined);
  }
}

/** One writev; if the OS writes only part (a disk filling up), the rest until it errors. */
async function writeAll(fh: FileHandle, frames: Buffer[], position: number): Promise<void> {
  const total = frames.reduce((sum, f) => sum + f.length, 0);
  let written = (await fh.writev(frames, position)).bytesWritten;
  if (written === total) return;
  const rest = Buffer.concat(frames);
  while (written < total) {
    const { bytesWritten } = await fh.write(rest, written, total - written, position + written);
    if (bytesWritten === 0) throw new Error(`short write: ${written} of ${total} bytes`);
    written += bytesWritten;
  }
}
