/**
 * A node process for the ownership test: its own entity cache on the shared database, with (or,
 * to show what goes wrong, without) Redis ownership, adding 1 to the gold of every shared row,
 * `rounds` times, all rows at once each round. Prints {"acks": n} when everything is written back.
 *
 *   node --import tsx test/data/ownership-writer.ts <db url> <table> <node> <owned|plain> <keys> <rounds> <redis prefix> <start at (epoch ms)>
 *
 * Both writers start at the same moment and pace their rounds, so that they really overlap.
 */
import { column, defineTable, EntityCache, openDatabase, RedisOwnership } from "../../src/index.ts";

export function ownershipTable(name: string) {
  return defineTable(name, { columns: { id: column.integer(), gold: column.integer().default(0) }, primaryKey: "id" });
}

async function main(): Promise<void> {
  const [url, table, node, mode, keys, rounds, prefix, startAt] = process.argv.slice(2) as [string, string, string, string, string, string, string, string];
  const Table = ownershipTable(table);
  const db = await openDatabase(url);
  const ownership = mode === "owned" ? await RedisOwnership.open({ node, prefix, ttlMs: 5000, waitMs: 20_000 }) : undefined;
  const cache = await EntityCache.open({ db, tables: [Table], flushIntervalMs: 200, ...(ownership === undefined ? {} : { ownership }) });
  const rows = cache.table(Table);
  let acks = 0;
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
  for (let r = 0; r < Number(rounds); r++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.all(
      Array.from({ length: Number(keys) }, async (_, i) => {
        await rows.modify(i + 1, (row) => ({ gold: row.gold + 1 }));
        acks++;
      }),
    );
  }
  await cache.close();
  await db.close();
  process.stdout.write(`${JSON.stringify({ acks })}\n`);
}

if (process.argv[1]?.endsWith("ownership-writer.ts")) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
