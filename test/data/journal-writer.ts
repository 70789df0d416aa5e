/**
 * Child process of the crash test: appends to the journal in argv[2] with the fsync policy in
 * argv[3] (JSON) as fast as it can, from 32 concurrent writers, and prints one line per
 * acknowledged append: "<seq> <writer> <i>". Runs until killed.
 */
import { Journal, JournalBackpressureError, type FsyncPolicy } from "../../src/data/journal/index.ts";
import { payload } from "./journal-helpers.ts";

const [dir, policy] = process.argv.slice(2);
const journal = await Journal.open(dir!, { fsync: JSON.parse(policy!) as FsyncPolicy, segmentBytes: 64 * 1024 });

async function writer(w: number): Promise<void> {
  for (let i = 0; ; i++) {
    const id = w * 1_000_000 + i;
    try {
      const seq = await journal.append(payload(id, 40 + (id % 200)));
      // stdout to a pipe is synchronous on Linux: once written, the parent sees it even after SIGKILL.
      process.stdout.write(`${seq} ${id}\n`);
    } catch (err) {
      if (!(err instanceof JournalBackpressureError)) throw err;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

process.stdout.write("ready\n");
await Promise.all(Array.from({ length: 32 }, (_, w) => writer(w)));
