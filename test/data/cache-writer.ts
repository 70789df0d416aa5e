/**
 * Child process of the cache crash test: opens the cache on a SQLite file with a journal and
 * updates and creates rows as fast as it can, printing each acknowledged change, until it is
 * killed. argv: dbFile journalDir fsync(always|group|off) round (keeps each run's new ids apart)
 */
import { EntityCache, Journal, openDatabase, syncSchema } from "../../src/index.ts";
import { Players } from "./cache-tables.ts";

const [file, dir, policy, round] = process.argv.slice(2) as [string, string, string, string];
const db = await openDatabase(`sqlite:${file}`);
await syncSchema(db, [Players]);
const journal = await Journal.open(dir, { fsync: policy === "group" ? { groupMs: 5 } : policy === "off" ? "off" : "always" });
// A short interval: the kill lands in the middle of write-backs too, not only between them.
const cache = await EntityCache.open({ db, journal, tables: [Players], flushIntervalMs: 20 });
const players = cache.table(Players);
const WRITERS = 16;
for (let id = 1; id <= WRITERS; id++) if ((await players.get(id)) === undefined) await players.create({ id, name: `p${id}` });
process.stdout.write("ready\n");
// Each writer owns row w+1 (so its acknowledged values are known exactly) and creates rows of
// its own id range: "ack <row> <gold>" and "created <id>" are printed only once acknowledged.
await Promise.all(
  Array.from({ length: WRITERS }, async (_, w) => {
    for (let k = 1; ; k++) {
      if (k % 4 === 0) {
        const id = (w + 1) * 10_000_000 + Number(round) * 1_000_000 + k;
        await players.create({ id, name: `n${id}`, guild: w });
        process.stdout.write(`created ${id}\n`);
      } else {
        await players.update(w + 1, { gold: k });
        process.stdout.write(`ack ${w + 1} ${k}\n`);
      }
    }
  }),
);
