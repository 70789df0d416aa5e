/** Typed errors of the journal. Each says what happened and what the caller can do. */

/** A record that is not a torn tail failed its checks: data the journal cannot vouch for. */
export class JournalCorruptError extends Error {
  override readonly name = "JournalCorruptError";
  constructor(
    /** Path of the segment file. */
    readonly segment: string,
    /** Byte offset of the bad record in that file. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`journal corrupt: ${segment} at byte ${offset}: ${reason}`);
  }
}

/**
 * A write or fsync failed (ENOSPC, EIO, …). Every append not yet acknowledged is rejected with
 * it, and the journal refuses further appends until it is reopened: after a failed fsync the
 * kernel's page cache state is unknown, so only a fresh read of the files can be trusted.
 */
export class JournalWriteError extends Error {
  override readonly name = "JournalWriteError";
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
  }
  /** The errno code of the cause (e.g. "ENOSPC"), if it has one. */
  get code(): string | undefined {
    const cause: unknown = this.cause;
    return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ? cause.code : undefined;
  }
}

/** append() was called after close() (or during it). */
export class JournalClosedError extends Error {
  override readonly name = "JournalClosedError";
  constructor() {
    super("journal is closed");
  }
}

/**
 * The bytes appended but not yet durable would exceed maxUnsyncedBytes. Nothing was written;
 * the caller may retry once earlier appends have resolved.
 */
export class JournalBackpressureError extends Error {
  override readonly name = "JournalBackpressureError";
  constructor(
    readonly unsyncedBytes: number,
    readonly limit: number,
  ) {
    super(`journal back-pressure: ${unsyncedBytes} bytes not yet durable, limit ${limit}`);
  }
}
