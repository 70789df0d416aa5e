/**
 * The databases the SQL tests run against: SQLite (a temp file), and the PostgreSQL and MariaDB
 * of this machine. A server that cannot be reached fails the test when CI=true, and skips it
 * with the reason otherwise. Table names carry a random suffix and are dropped afterwards,
 * because the servers are shared.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { openDatabase, type Database, type SqlDialect } from "../../src/index.ts";

export interface Service {
  dialect: SqlDialect;
  /** Where it is, for skip messages. */
  where: string;
  /** db settings (the SQLite one gets a fresh folder). */
  url(dir: string): string;
}

export const SERVICES: readonly Service[] = [
  { dialect: "sqlite", where: "a temp file", url: (dir) => `sqlite:${join(dir, "test.db")}` },
  { dialect: "postgres", where: "127.0.0.1:5432", url: () => "postgres://postgres@127.0.0.1:5432/test" },
  { dialect: "mysql", where: "127.0.0.1:3306", url: () => "mysql://root@127.0.0.1:3306/test" },
];

const PROBE_TIMEOUT_MS = 3000;

/** One database per test suite: opened once on first use, its tables dropped and the pool closed at the end. */
export class ServiceUnderTest {
  private opening: Promise<Database | Error> | undefined;
  private readonly tables = new Set<string>();
  private readonly dir = mkdtempSync(join(tmpdir(), "glowfly-sql-"));
  private readonly suffix = Math.random().toString(36).slice(2, 8);

  constructor(readonly service: Service) {}

  /** The database, or undefined after t.skip (unreachable, not in CI). Throws when unreachable in CI. */
  async open(t: TestContext): Promise<Database | undefined> {
    this.opening ??= openDatabase({ url: this.service.url(this.dir), connectTimeoutMs: PROBE_TIMEOUT_MS }).catch((error: unknown) =>
      error instanceof Error ? error : new Error(String(error)),
    );
    const db = await this.opening;
    if (!(db instanceof Error)) return db;
    const reason = `${this.service.dialect} unreachable at ${this.service.where}: ${db.message}`;
    if (process.env.CI === "true") throw new Error(`${reason} (CI=true: the server must be up)`);
    t.skip(reason);
    return undefined;
  }

  /** A table name unique to this run, dropped by cleanup(). */
  tableName(purpose: string): string {
    const name = `sql_${purpose}_${this.suffix}`;
    this.tables.add(name);
    return name;
  }

  /** Drop the tables this suite made, close the pool, remove the SQLite folder. */
  async cleanup(): Promise<void> {
    const db = await this.opening;
    if (db !== undefined && !(db instanceof Error)) {
      try {
        for (const name of this.tables) await db.kysely.schema.dropTable(name).ifExists().execute();
      } finally {
        await db.close();
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
