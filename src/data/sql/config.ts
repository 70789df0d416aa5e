/**
 * db settings → a resolved connection config. Three input forms:
 *
 * - a URL string: `sqlite:data/game.db`, `sqlite::memory:`, `postgres://user:pw@host:5432/db`,
 *   `mysql://user:pw@host:3306/db?charset=utf8mb4`;
 * - glowfly's object `{ url, poolSize?, connectTimeoutMs?, queryTimeoutMs? }`;
 * - Firefly's block `{ host, user, passwd, port, db, charset }`, which is always MySQL.
 *
 * Errors are a DbConfigError naming the key path; no message ever contains a password.
 */
import { isAbsolute, resolve } from "node:path";
import { dbPoolSchema, type DbPoolInput } from "../../config/firefly.ts";
import { formatPath, isRecord, kindOf, parseAt } from "../../config/path.ts";
import { DbConfigError } from "./errors.ts";

export type SqlDialect = "sqlite" | "postgres" | "mysql";

/** glowfly's own db settings. */
export interface DbUrlSettings {
  url: string;
  /** Connections per pool (PostgreSQL, MySQL; SQLite has one). Default 10, at most 1000. */
  poolSize?: number;
  /** How long opening the database may take before it fails. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** How long one statement may run before it fails. Default 30000 ms. */
  queryTimeoutMs?: number;
}

export type SqlConfigInput = string | DbUrlSettings | DbPoolInput;

export const DB_DEFAULTS = { poolSize: 10, connectTimeoutMs: 10_000, queryTimeoutMs: 30_000 } as const;
const LIMITS = { poolSize: 1000, connectTimeoutMs: 600_000, queryTimeoutMs: 3_600_000 } as const;

interface DbLimits {
  poolSize: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
}

export interface SqliteConfig extends DbLimits {
  dialect: "sqlite";
  /** The URL as given (SQLite URLs hold no password). */
  url: string;
  /** An absolute file path, or ":memory:". */
  file: string;
}

export interface ServerConfig extends DbLimits {
  dialect: "postgres" | "mysql";
  /** The URL with the password replaced by `***`: safe to log. */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** MySQL only: the connection charset (mysql2 names, e.g. utf8mb4). */
  charset?: string;
}

export type DbConfig = SqliteConfig | ServerConfig;

export interface ParseDbConfigOptions {
  /** Where a relative SQLite path is resolved: the app's data folder. Default: the working directory. */
  dataDir?: string;
  /** The key path of the settings in messages. Default "db". */
  path?: string;
}

const SERVER_DEFAULTS = {
  postgres: { port: 5432, user: "postgres" },
  mysql: { port: 3306, user: "root" },
} as const;

const SCHEMES: Record<string, "postgres" | "mysql"> = {
  "postgres:": "postgres",
  "postgresql:": "postgres",
  "mysql:": "mysql",
  "mariadb:": "mysql",
};

const CHARSET = /^[A-Za-z0-9_]+$/;
const SETTINGS_KEYS: ReadonlySet<string> = new Set(["url", "poolSize", "connectTimeoutMs", "queryTimeoutMs"]);

/** Parse and check db settings in any of the three forms; throws DbConfigError listing every issue. */
export function parseDbConfig(input: unknown, options: ParseDbConfigOptions = {}): DbConfig {
  const at = options.path ?? "db";
  const dataDir = options.dataDir ?? process.cwd();
  const issues: string[] = [];
  let config: DbConfig | undefined;
  if (typeof input === "string") {
    config = parseUrl(input, DB_DEFAULTS, dataDir, at, issues);
  } else if (isRecord(input) && "url" in input) {
    config = parseSettings(input, dataDir, at, issues);
  } else if (isRecord(input) && Object.keys(input).length > 0) {
    config = parseFirefly(input, at, issues);
  } else {
    issues.push(
      `${at}: expected a URL string, { url, poolSize?, connectTimeoutMs?, queryTimeoutMs? } or Firefly's { host, user, passwd, port, db, charset }, received ${isRecord(input) ? "an empty object" : kindOf(input)}`,
    );
  }
  if (config === undefined || issues.length > 0) throw new DbConfigError(issues);
  return config;
}

function parseSettings(input: Record<string, unknown>, dataDir: string, at: string, issues: string[]): DbConfig | undefined {
  for (const key of Object.keys(input)) {
    if (!SETTINGS_KEYS.has(key)) issues.push(`${formatPath([at, key])}: unknown key; expected one of ${[...SETTINGS_KEYS].join(", ")}`);
  }
  const limits: DbLimits = {
    poolSize: limitAt(input, "poolSize", at, issues),
    connectTimeoutMs: limitAt(input, "connectTimeoutMs", at, issues),
    queryTimeoutMs: limitAt(input, "queryTimeoutMs", at, issues),
  };
  if (typeof input.url !== "string") {
    issues.push(`${at}.url: expected a string, received ${kindOf(input.url)}`);
    return undefined;
  }
  return parseUrl(input.url, limits, dataDir, `${at}.url`, issues);
}

function limitAt(input: Record<string, unknown>, key: keyof DbLimits, at: string, issues: string[]): number {
  const value = input[key];
  if (value === undefined) return DB_DEFAULTS[key];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > LIMITS[key]) {
    issues.push(`${at}.${key}: expected an integer from 1 to ${LIMITS[key]}, received ${typeof value === "number" ? String(value) : kindOf(value)}`);
    return DB_DEFAULTS[key];
  }
  return value;
}

const EXPECTED_URL = "expected sqlite:<path>, sqlite::memory:, postgres://user:password@host:port/database or mysql://user:password@host:port/database";

function parseUrl(url: string, limits: DbLimits, dataDir: string, at: string, issues: string[]): DbConfig | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "sqlite") return parseSqliteUrl(url, limits, dataDir, at, issues);
  const dialect = scheme === undefined ? undefined : SCHEMES[`${scheme}:`];
  if (dialect === undefined) {
    issues.push(`${at}: ${scheme === undefined ? "no scheme" : `unknown scheme "${scheme}:"`}; ${EXPECTED_URL}`);
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL is not echoed: it may hold a password.
    issues.push(`${at}: not a valid URL (check the port and that special characters in the user or password are %-encoded); ${EXPECTED_URL}`);
    return undefined;
  }
  const safeUrl = maskPassword(parsed);
  const before = issues.length;
  if (parsed.hostname === "") issues.push(`${at}: no host in ${safeUrl}`);
  const port = parsed.port === "" ? SERVER_DEFAULTS[dialect].port : Number(parsed.port);
  if (port === 0) issues.push(`${at}: port 0 in ${safeUrl}; expected 1 to 65535`);
  const database = decodeOrIssue(parsed.pathname.replace(/^\//, ""), "database", at, issues);
  if (database === "") issues.push(`${at}: no database name in ${safeUrl}; add /<database> after the host`);
  else if (database.includes("/")) issues.push(`${at}: database name "${database}" has a slash; expected one name after the host`);
  let charset: string | undefined;
  for (const [key, value] of parsed.searchParams) {
    if (dialect === "mysql" && key === "charset") charset = checkCharset(value, `${at} (charset)`, issues);
    else issues.push(`${at}: unknown query parameter "${key}"${dialect === "mysql" ? "; mysql URLs accept charset" : "; postgres URLs accept none"}`);
  }
  const user = decodeOrIssue(parsed.username, "user", at, issues) || SERVER_DEFAULTS[dialect].user;
  const password = decodeOrIssue(parsed.password, "password", at, issues);
  if (issues.length > before) return undefined;
  // URL keeps IPv6 hosts in brackets; drivers want them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  return { dialect, url: safeUrl, host, port, user, password, database, ...(charset === undefined ? {} : { charset }), ...limits };
}

function parseSqliteUrl(url: string, limits: DbLimits, dataDir: string, at: string, issues: string[]): SqliteConfig | undefined {
  // "sqlite:path" and "sqlite://path" are the same file; "sqlite:///abs/path" is absolute.
  let path = url.slice("sqlite:".length);
  if (path.startsWith("//")) path = path.slice(2);
  if (path === "") {
    issues.push(`${at}: no file in "${url}"; expected sqlite:<path> (relative to the data folder) or sqlite::memory:`);
    return undefined;
  }
  if (path.includes("?")) {
    issues.push(`${at}: "${url}" has a query string; sqlite URLs take none`);
    return undefined;
  }
  const file = path === ":memory:" ? path : isAbsolute(path) ? path : resolve(dataDir, path);
  return { dialect: "sqlite", url, file, ...limits };
}

function parseFirefly(input: Record<string, unknown>, at: string, issues: string[]): ServerConfig | undefined {
  const pool = parseAt(dbPoolSchema, input, [at], issues);
  if (pool === undefined) return undefined;
  const before = issues.length;
  if (pool.engine !== undefined && pool.engine.toLowerCase() !== "mysql") {
    issues.push(`${at}.engine: "${pool.engine}" is not supported in Firefly's db block, which is MySQL; use { url: "postgres://…" } for PostgreSQL`);
  }
  if (pool.db === undefined || pool.db === "") issues.push(`${at}.db: expected the database name (a non-empty string)`);
  if (pool.port === 0) issues.push(`${at}.port: expected 1 to 65535, received 0`);
  if (pool.host === "") issues.push(`${at}.host: expected a host name, received an empty string`);
  const charset = pool.charset === undefined ? undefined : checkCharset(pool.charset, `${at}.charset`, issues);
  if (issues.length > before) return undefined;
  const host = pool.host ?? "localhost";
  const port = pool.port ?? SERVER_DEFAULTS.mysql.port;
  const user = pool.user ?? SERVER_DEFAULTS.mysql.user;
  const database = pool.db ?? "";
  const auth = pool.passwd ? `${encodeURIComponent(user)}:***` : encodeURIComponent(user);
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    dialect: "mysql",
    url: `mysql://${auth}@${hostPart}:${port}/${encodeURIComponent(database)}`,
    host,
    port,
    user,
    password: pool.passwd ?? "",
    database,
    ...(charset === undefined ? {} : { charset }),
    ...DB_DEFAULTS,
  };
}

function checkCharset(value: string, at: string, issues: string[]): string | undefined {
  if (CHARSET.test(value)) return value;
  issues.push(`${at}: expected a MySQL charset name such as utf8mb4 (letters, digits, _)`);
  return undefined;
}

function decodeOrIssue(text: string, what: string, at: string, issues: string[]): string {
  try {
    return decodeURIComponent(text);
  } catch {
    issues.push(`${at}: the ${what} has a malformed %-escape`);
    return "";
  }
}

function maskPassword(url: URL): string {
  if (url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.password = "***";
  return copy.href;
}
