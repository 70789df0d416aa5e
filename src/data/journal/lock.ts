/**
 * One writer per journal folder: two processes appending to the same segments would interleave
 * records and corrupt each other. The lock is a file holding the owner's pid, made with O_EXCL;
 * a lock whose process is gone (killed, crashed) is taken over, so recovery after SIGKILL works.
 */
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";

const LOCK_FILE = "LOCK";

/** The folder is in use by a live process (or by another Journal of this one). */
export class JournalLockedError extends Error {
  override readonly name = "JournalLockedError";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else — still alive.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Take the folder's lock; resolves with its release. */
export async function lockJournal(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, "wx", 0o644);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = Number((await readFile(path, "utf8").catch(() => "")).trim());
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
      const who = owner === process.pid ? "another Journal of this process" : `process ${owner}`;
      throw new JournalLockedError(`journal ${dir} is in use by ${who}; close it first (or remove ${path} if that process is not a journal writer)`);
    }
    // The owner is gone: its lock is stale.
    await rm(path, { force: true });
  }
  throw new JournalLockedError(`journal ${dir}: could not take the lock (another process took it first)`);
}
