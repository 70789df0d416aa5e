/** Journal options, their defaults and their validation. */

/**
 * When an append is acknowledged:
 * - "always": after the write that carries it has been fdatasync'ed;
 * - { groupMs }: after a group write + fdatasync that runs at most groupMs after it was queued;
 * - "off": after write() hands it to the OS (survives a process crash, not a power loss).
 */
export type FsyncPolicy = "always" | "off" | { groupMs: number };

export interface JournalOptions {
  /**
   * Default "always": it batches concurrent appends by itself (one write and one fdatasync per
   * batch), so it is as durable as group commit and, on disks with fast flushes, faster.
   */
  fsync?: FsyncPolicy;
  /** A segment is closed and a new one started once it would grow past this. Default 64 MiB. */
  segmentBytes?: number;
  /** Bytes appended but not yet acknowledged; beyond it append() rejects. Default 16 MiB. */
  maxUnsyncedBytes?: number;
}

export interface ResolvedOptions {
  /** 0 for "always" and "off" (write as soon as the previous write is done). */
  groupMs: number;
  sync: boolean;
  segmentBytes: number;
  maxUnsyncedBytes: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_UNSYNCED_BYTES = 16 * 1024 * 1024;

export function resolveOptions(o: JournalOptions = {}): ResolvedOptions {
  const fsync = o.fsync ?? "always";
  let groupMs = 0;
  if (typeof fsync === "object") {
    groupMs = fsync.groupMs;
    positive("fsync.groupMs", groupMs, false);
  } else if (fsync !== "always" && fsync !== "off") {
    throw new TypeError(`journal option fsync: expected "always", "off" or { groupMs }, got ${JSON.stringify(fsync)}`);
  }
  const segmentBytes = o.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const maxUnsyncedBytes = o.maxUnsyncedBytes ?? DEFAULT_MAX_UNSYNCED_BYTES;
  positive("segmentBytes", segmentBytes, true);
  positive("maxUnsyncedBytes", maxUnsyncedBytes, true);
  return { groupMs, sync: fsync !== "off", segmentBytes, maxUnsyncedBytes };
}

function positive(key: string, value: number, integer: boolean): void {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) {
    throw new RangeError(`journal option ${key}: expected a positive ${integer ? "integer" : "number"}, got ${value}`);
  }
}
