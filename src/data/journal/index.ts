export { Journal, type JournalRecord, type JournalStatus } from "./journal.ts";
export type { JournalOptions, FsyncPolicy } from "./options.ts";
export type { Discarded } from "./recover.ts";
export { JournalBackpressureError, JournalClosedError, JournalCorruptError, JournalWriteError } from "./errors.ts";
export { JournalLockedError } from "./lock.ts";
