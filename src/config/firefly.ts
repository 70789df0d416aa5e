/**
 * The Firefly-compatible parts of the cluster config: module names in `app` and `reload`, which
 * Firefly wrote as dotted Python names ("app.gateserver"), and the top-level `db` and
 * `memcached` blocks, which are accepted and checked but not used until the data layer exists.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { formatPath, isRecord, kindOf, parseAt, quoteKey, type KeyPath } from "./path.ts";

// ---------------------------------------------------------------------------------------------
// Module names

const DOTTED_NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const SCRIPT_EXTENSION = /\.(?:[cm]?[jt]s|[jt]sx)$/i;

/**
 * Whether `spec` is a Firefly-style dotted module name ("app.gateserver", "gate") rather than a
 * file path ("./app/gate.ts"). A path has a slash or a backslash, starts with a dot, or ends in
 * a script extension (".ts", ".js", ".mts", ...); everything else made of identifiers joined by
 * dots is a dotted name.
 */
export function isDottedModuleName(spec: string): boolean {
  return DOTTED_NAME.test(spec) && !SCRIPT_EXTENSION.test(spec);
}

/**
 * The files a dotted name may be, relative to the config file, in the order they are tried:
 * `app.gateserver` → `app/gateserver.ts`, `app/gateserver.js`, `app/gateserver/index.ts`,
 * `app/gateserver/index.js` (the last two are what a Python package's `__init__.py` becomes).
 */
export function dottedModuleCandidates(name: string): string[] {
  const base = name.split(".").join("/");
  return [`${base}.ts`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`];
}

export interface ModuleLookup {
  /** Whether checkFiles is on: then a module that is not a file is an error. */
  checkFiles: boolean;
  /** Memo of file checks, shared by every lookup of one config (many servers name one app). */
  seen: Map<string, boolean>;
}

function isFile(path: string, lookup: ModuleLookup): boolean {
  let known = lookup.seen.get(path);
  if (known === undefined) {
    try {
      known = statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
    } catch {
      known = false;
    }
    lookup.seen.set(path, known);
  }
  return known;
}

/**
 * Resolve an `app` or `reload` entry to an absolute file path. A path is resolved against
 * `baseDir`; a dotted name becomes the first of its candidates that is a file. With checkFiles,
 * a module that is not found is an issue naming `path` and every file tried; without it, a
 * dotted name resolves to its first candidate (`.ts`).
 */
export function resolveModule(spec: string, baseDir: string, path: KeyPath, lookup: ModuleLookup, issues: string[]): string {
  if (!isDottedModuleName(spec)) {
    const file = resolve(baseDir, spec);
    if (lookup.checkFiles && !isFile(file, lookup)) issues.push(`${formatPath(path)}: module ${quoteKey(spec)} not found: no file ${file}`);
    return file;
  }
  const candidates = dottedModuleCandidates(spec);
  const files = candidates.map((c) => resolve(baseDir, c));
  if (!lookup.checkFiles) return files[0] as string;
  const found = files.find((f) => isFile(f, lookup));
  if (found !== undefined) return found;
  issues.push(`${formatPath(path)}: module ${quoteKey(spec)} not found: a dotted name is looked up relative to the config file as ${candidates.join(", ")}`);
  return files[0] as string;
}

// ---------------------------------------------------------------------------------------------
// db and memcached

const port = z.number().int().min(0).max(65535);

/** One SQL connection pool, as Firefly passed it to MySQLdb: every key optional. */
export const dbPoolSchema = z
  .object({
    host: z.string().optional(),
    user: z.string().optional(),
    passwd: z.string().optional(),
    port: port.optional(),
    db: z.string().optional(),
    charset: z.string().optional(),
    engine: z.string().optional(),
  })
  .strict();

export type DbPoolInput = z.input<typeof dbPoolSchema>;
/** Firefly's flat pool, or G-Firefly's object of named pools (`{ "default": {...}, "master": {...} }`). */
export type DbConfigInput = DbPoolInput | Record<string, DbPoolInput>;

const FLAT_POOL_KEYS: ReadonlySet<string> = new Set(Object.keys(dbPoolSchema.shape));

export const memcachedSchema = z
  .object({
    urls: z.array(z.string().min(1)).optional(),
    hostname: z.string().optional(),
    pubhost: z.string().min(1).optional(),
    pubport: port.optional(),
  })
  .strict();

export type MemcachedConfigInput = z.input<typeof memcachedSchema>;

export interface DbSettings {
  /** "flat": Firefly's one pool (named "default" here); "pools": G-Firefly's named pools. */
  form: "flat" | "pools";
  pools: ReadonlyMap<string, DbPoolInput>;
}

export type CacheSettings = MemcachedConfigInput;

/**
 * Check the top-level `db` block. A record with any of Firefly's pool keys (host, user, passwd,
 * port, db, charset, engine) is one flat pool, named "default" as G-Firefly does; otherwise every
 * entry is a named pool.
 */
export function parseDb(value: unknown, issues: string[]): DbSettings | undefined {
  if (!isRecord(value)) {
    issues.push(`db: expected an object (one pool, or named pools), received ${kindOf(value)}`);
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length === 0 || keys.some((k) => FLAT_POOL_KEYS.has(k))) {
    const pool = parseAt(dbPoolSchema, value, ["db"], issues);
    return pool === undefined ? undefined : { form: "flat", pools: new Map([["default", pool]]) };
  }
  const pools = new Map<string, DbPoolInput>();
  let ok = true;
  for (const name of keys) {
    const entry = value[name];
    if (!isRecord(entry)) {
      issues.push(`${formatPath(["db", name])}: expected a pool object, received ${kindOf(entry)}; a flat pool has keys ${[...FLAT_POOL_KEYS].join(", ")}`);
      ok = false;
      continue;
    }
    const pool = parseAt(dbPoolSchema, entry, ["db", name], issues);
    if (pool === undefined) ok = false;
    else pools.set(name, pool);
  }
  return ok ? { form: "pools", pools } : undefined;
}

export function parseMemcached(value: unknown, issues: string[]): CacheSettings | undefined {
  return parseAt(memcachedSchema, value, ["memcached"], issues);
}
