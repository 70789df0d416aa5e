/**
 * Log lines appended to a file (Firefly's per-server `log`). Writes are synchronous appends:
 * a line is on disk (in the page cache) before the call returns, so nothing is lost when the
 * process is killed, and a node keeps logging after the master whose pipe it wrote to is gone.
 * Log lines are few (per-connection events are debug), so the blocking write is cheap. The
 * file stays open for the life of the process.
 */
import { mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { LogLevel } from "./logger.ts";

/** A `write` for consoleLogger that appends to `path` (its folder is created). Throws when it cannot be opened. */
export function fileLog(path: string): (level: LogLevel, line: string) => void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, "a", 0o644);
  let failed = false;
  return (_level, line) => {
    if (failed) return;
    try {
      writeSync(fd, line + "\n");
    } catch (err) {
      // A full or vanished disk must not take the node down: say so once, on stderr.
      process.stderr.write(`cannot write the log file ${path}: ${String(err)}; further lines are dropped\n`);
      failed = true;
    }
  };
}
