/**
 * Primary keys unique across every node that shares the database: each node reserves blocks of
 * ids from a counter row per table (`glowfly_ids`) and hands them out from memory. A reservation
 * is one short transaction; a node that dies loses the rest of its block (gaps, never repeats).
 * The counter starts above the table's largest key, so rows written before it existed are safe.
 */
import type { AnyColumn } from "../sql/columns.ts";
import type { Database } from "../sql/database.ts";
import { run } from "../sql/driver.ts";
import type { AnyTable } from "../sql/table.ts";

const COUNTERS = "glowfly_ids";
/** A reservation that fails (lost race, deadlock, a blip) is tried this often in all. */
const MAX_ATTEMPTS = 5;

export class IdAllocator {
  private next = 0;
  private end = 0;
  private refilling: Promise<void> | null = null;
  private ready: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly table: AnyTable,
    private readonly blockSize: number,
  ) {
    const kind = (table.columns[table.primaryKey] as AnyColumn).kind;
    if (kind !== "integer" && kind !== "bigint") throw new Error(`${table.name}: ids are allocated for integer keys only (its key is ${kind})`);
  }

  /** A key no node has been given before. */
  async take(): Promise<number> {
    while (this.next >= this.end) {
      this.refilling ??= this.reserve().finally(() => (this.refilling = null));
      await this.refilling;
    }
    return this.next++;
  }

  private async reserve(): Promise<void> {
    this.ready ??= this.createCounters().catch((error: unknown) => {
      this.ready = null; // try again at the next reservation
      throw error;
    });
    await this.ready;
    const { driver, kysely } = this.db;
    const q = (name: string) => driver.quote(name);
    const [p1, p2] = [driver.placeholder(1), driver.placeholder(2)];
    for (let attempt = 1; ; attempt++) {
      try {
        const top = await kysely.transaction().execute(async (trx) => {
          // The UPDATE first: it takes the row's write lock, so the SELECT after it is this node's own.
          const updated = await run(trx, `UPDATE ${q(COUNTERS)} SET ${q("next")} = ${q("next")} + ${p1} WHERE ${q("name")} = ${p2}`, [this.blockSize, this.table.name]);
          if (Number(updated.numAffectedRows ?? 0) === 1) {
            const row = await run<{ next: unknown }>(trx, `SELECT ${q("next")} FROM ${q(COUNTERS)} WHERE ${q("name")} = ${p1}`, [this.table.name]);
            return Number(row.rows[0]?.next);
          }
          const max = await run<{ top: unknown }>(trx, `SELECT MAX(${q(this.table.primaryKey)}) AS ${q("top")} FROM ${q(this.table.name)}`);
          const first = Number(max.rows[0]?.top ?? 0) + 1;
          await run(trx, `INSERT INTO ${q(COUNTERS)} (${q("name")}, ${q("next")}) VALUES (${p1}, ${p2})`, [this.table.name, first + this.blockSize]);
          return first + this.blockSize;
        });
        if (!Number.isSafeInteger(top)) throw new Error(`${this.table.name}: the id counter is past 2^53`);
        this.next = top - this.blockSize;
        this.end = top;
        return;
      } catch (error) {
        // Another node created the counter row at the same moment (a key clash, or on MySQL a
        // deadlock between the two inserts): the UPDATE path works on the next try.
        if (attempt >= MAX_ATTEMPTS) throw error;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      }
    }
  }

  private async createCounters(): Promise<void> {
    const q = (name: string) => this.db.driver.quote(name);
    const create = `CREATE TABLE IF NOT EXISTS ${q(COUNTERS)} (${q("name")} VARCHAR(200) NOT NULL PRIMARY KEY, ${q("next")} BIGINT NOT NULL)`;
    try {
      await run(this.db.kysely, create);
    } catch {
      // Two nodes creating it at the same moment: PostgreSQL fails one of them with a key clash
      // in its catalog ("IF NOT EXISTS" is not atomic there). Once the other has made it, this is a no-op.
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
      await run(this.db.kysely, create);
    }
  }
}
