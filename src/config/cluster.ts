/**
 * The cluster config: every node of a cluster, its roles, ports and links to roots, and the
 * master's settings. A Firefly `config.json` is accepted unchanged; glowfly's additions are
 * listed in docs/config.md ("Cluster config"). parseClusterConfig validates everything at once,
 * naming the key path of each problem, and returns a normalized ClusterConfig with a start
 * order (roots before their children) and notices for what is accepted but has no effect yet.
 */
import { resolve } from "node:path";
import { z } from "zod";
import type { LogLevel } from "../log/logger.ts";
import type { CodecName } from "../protocol/index.ts";
import {
  ConfigError,
  fireflySchema,
  limitRelationIssues,
  limitsSchema,
  logLevelSchema,
  NODE_NAME_PATTERN,
  NODE_NAME_RULE,
  resolveLimits,
  sessionsSchema,
  type NodeConfigInput,
} from "./node-config.ts";
import { resolveSessionSettings, type SessionSettings } from "./sessions.ts";
import { parseDb, parseMemcached, resolveModule, type CacheSettings, type DbSettings, type ModuleLookup } from "./firefly.ts";
import { formatPath, isRecord, kindOf, parseAt, quoteKey, type KeyPath } from "./path.ts";
import { parseDbConfig, type DbUrlSettings, type SqlConfigInput } from "../data/sql/config.ts";
import { ownershipSchema } from "./data.ts";
import { DbConfigError } from "../data/sql/errors.ts";

// ---------------------------------------------------------------------------------------------
// Output types

/** A capability a node switches on by config (DESIGN.md vocabulary), in this order. */
export type Role = "net" | "ws" | "root" | "remote" | "web" | "db" | "cache";
export const ROLES: readonly Role[] = ["net", "ws", "root", "remote", "web", "db", "cache"];

/** A port something listens on. `key` is its config key path, as errors name it. */
export interface ClusterListener {
  role: "net" | "ws" | "root" | "web";
  host: string;
  port: number;
  key: string;
}

/** A node's link to a root: connect to `host:port` and register as a child of `rootName`. */
export interface ClusterLink {
  rootName: string;
  host: string;
  port: number;
}

/** An inclusive range of command ids. */
export type CommandRange = readonly [first: number, last: number];

/** Client commands a node forwards to one of its roots: sorted, merged, non-empty ranges. */
export interface ForwardSettings {
  to: string;
  ranges: readonly CommandRange[];
}

export interface LogSettings {
  /** Absolute path, or null for stdout only. */
  file: string | null;
  level: LogLevel;
}

export interface RestartSettings {
  maxCrashes: number;
  windowMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface TimeoutSettings {
  /** Default timeout of a call to another node. */
  rpcMs: number;
  /** How long one connection attempt of a link may take. */
  connectMs: number;
}

export interface MasterSettings {
  /** Interface the admin API binds. */
  host: string;
  /** Admin HTTP port, or null: no admin API. */
  webport: number | null;
  /** Port nodes register on (0: a free port, which the master passes to the nodes it spawns). */
  rootport: number;
  /** Host the rootport listens on, and nodes connect to (Firefly's roothost). */
  roothost: string;
  /** Where nodes reach the master: `roothost` (a wildcard becomes loopback) and `rootport`. */
  registry: { host: string; port: number };
  /** The master's own ports (rootport, and webport if set). */
  listeners: readonly ClusterListener[];
  log: LogSettings;
  restart: RestartSettings;
  stopDeadlineMs: number;
  /** Absolute path of the admin token file. */
  tokenFile: string;
}

export interface ClusterNode {
  /** The server's key in `servers`. */
  name: string;
  roles: readonly Role[];
  /** Interface every listener of the node binds. */
  host: string;
  listeners: readonly ClusterListener[];
  /** Links to roots, in `remoteport` order. */
  links: readonly ClusterLink[];
  /** App modules, absolute paths, in order. */
  apps: readonly string[];
  /** Module the reload command re-imports (absolute), or null. */
  reload: string | null;
  log: LogSettings;
  codec: CodecName;
  timeouts: TimeoutSettings;
  forward: ForwardSettings | null;
  /** Firefly's `cpu` bitmask, accepted and not applied; null if absent. */
  cpu: number | null;
  /** The server's `sessions`, resolved (it is a gateway), or null: no sessions. */
  sessions: SessionSettings | null;
  /** The client-facing part as a node config (netport → tcp, wsport → ws); what `new Node` takes. */
  node: NodeConfigInput;
}

export interface ClusterConfig {
  /** Where the config came from (a file path, or "(inline)"). */
  source: string;
  /** Directory relative paths were resolved against. */
  baseDir: string;
  master: MasterSettings;
  /** Every node, in config order. */
  nodes: ReadonlyMap<string, ClusterNode>;
  /** Node names, every root before the nodes that link to it. */
  startOrder: readonly string[];
  /** startOrder reversed: children stop before their roots. */
  stopOrder: readonly string[];
  /** The top-level `db` block (accepted, not used yet), or null. */
  db: DbSettings | null;
  /** The top-level `memcached` block (accepted, not used yet), or null. */
  cache: CacheSettings | null;
  /** Things worth a log line that are not errors: accepted keys with no effect yet, idle nodes. */
  notices: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Defaults

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_RESTART: Readonly<RestartSettings> = { maxCrashes: 5, windowMs: 60_000, initialDelayMs: 500, maxDelayMs: 30_000 };
export const DEFAULT_TIMEOUTS: Readonly<TimeoutSettings> = { rpcMs: 10_000, connectMs: 5_000 };
export const DEFAULT_MASTER_STOP_DEADLINE_MS = 10_000;
/** A node's own stop deadline when its config sets none (as in Node). */
const DEFAULT_NODE_STOP_DEADLINE_MS = 5_000;
export const DEFAULT_TOKEN_FILE = ".glowfly/admin-token";
/** The database of `db: true` servers when the config has no `db` block (relative to the config). */
export const DEFAULT_SQLITE = "data/glowfly.db";
/** Every command id (command ids are u32). */
export const ALL_COMMANDS: CommandRange = [0, 0xffff_ffff];

// ---------------------------------------------------------------------------------------------
// Schemas (the parts zod checks; `log`, `forward`, `db` are checked by hand for clearer paths)

/** setTimeout's largest delay; a larger one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;
const port = z.number().int().min(0).max(65535);
const ms = z.number().int().positive().max(MAX_TIMER_MS);
const host = z.string().min(1).max(255);
const filePath = z.string().min(1).max(4096);

const logObjectSchema = z.object({ file: filePath.optional(), level: logLevelSchema.optional() }).strict();

const remotePortSchema = z
  .object({
    rootname: z.string().min(1),
    rootport: port.optional(),
    roothost: host.optional(),
  })
  .strict();

const serverSchema = z
  .object({
    // Firefly
    name: z.string().optional(),
    netport: port.optional(),
    rootport: port.optional(),
    remoteport: z.array(remotePortSchema).optional(),
    webport: port.optional(),
    app: z.union([filePath, z.array(filePath)], { error: "expected a module path or a list of module paths" }).optional(),
    reload: filePath.optional(),
    db: z.boolean().optional(),
    mem: z.boolean().optional(),
    log: z.unknown().optional(),
    cpu: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    // glowfly
    wsport: port.optional(),
    wspath: z.string().startsWith("/").optional(),
    host: host.optional(),
    frame: z.enum(["firefly", "native"]).optional(),
    firefly: fireflySchema.optional(),
    limits: limitsSchema.optional(),
    codec: z.enum(["raw", "json", "msgpack"]).optional(),
    timeouts: z.object({ rpcMs: ms.optional(), connectMs: ms.optional() }).strict().optional(),
    forward: z.unknown().optional(),
    maxConnections: z.number().int().positive().max(10_000_000).optional(),
    stopDeadlineMs: ms.optional(),
    sessions: sessionsSchema.optional(),
  })
  .strict();

type ServerParsed = z.output<typeof serverSchema>;

const masterSchema = z
  .object({
    // Firefly
    rootport: port.optional(),
    webport: port.optional(),
    roothost: host.optional(),
    log: z.unknown().optional(),
    // glowfly
    host: host.optional(),
    restart: z
      .object({
        maxCrashes: z.number().int().min(1).max(1_000_000).optional(),
        windowMs: ms.optional(),
        initialDelayMs: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
        maxDelayMs: ms.optional(),
      })
      .strict()
      .optional(),
    stopDeadlineMs: ms.optional(),
    tokenFile: filePath.optional(),
  })
  .strict();

const clusterSchema = z
  .object({
    master: z.unknown().optional(),
    servers: z.unknown().optional(), // required, with its own message below
    db: z.unknown().optional(),
    memcached: z.unknown().optional(),
    // glowfly: one owner per entity across the nodes with db: true (Redis leases)
    ownership: z.union([z.literal("master"), ownershipSchema], { error: 'expected "master" or { redis, ttlMs?, waitMs?, prefix? }' }).optional(),
  })
  .strict();

// ---------------------------------------------------------------------------------------------
// Telling config files apart

export type ConfigKind = "cluster" | "node";

/** A cluster config has `servers`; a node config has `name` at the top level. Null: neither. */
export function configKind(value: unknown): ConfigKind | null {
  if (!isRecord(value)) return null;
  if (Object.hasOwn(value, "servers")) return "cluster";
  if (Object.hasOwn(value, "name")) return "node";
  return null;
}

// ---------------------------------------------------------------------------------------------
// Parsing

export interface ParseClusterOptions {
  /** Named in every error (a file path); default "(inline)". */
  source?: string;
  /** Relative paths (app, reload, log, tokenFile) resolve against this; default process.cwd(). */
  baseDir?: string;
  /** Check that every app and reload module is a file (default true). */
  checkFiles?: boolean;
}

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0"]);

function canonicalHost(h: string): string {
  const lower = h.toLowerCase();
  return lower === "localhost" ? "127.0.0.1" : lower;
}

/** The host to connect to for a listener bound to `bindHost`: a wildcard becomes loopback. */
function connectHost(bindHost: string): string {
  const h = canonicalHost(bindHost);
  if (!WILDCARD_HOSTS.has(h)) return bindHost;
  return h === "0.0.0.0" ? "127.0.0.1" : "::1";
}

/** At most `max` names, then "and N more". */
function listNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

function parseLog(value: unknown, path: KeyPath, baseDir: string, issues: string[]): LogSettings {
  if (value === undefined) return { file: null, level: "info" };
  if (typeof value === "string") {
    if (value.length === 0 || value.length > 4096) issues.push(`${formatPath(path)}: expected a file path of 1 to 4096 characters`);
    return { file: resolve(baseDir, value), level: "info" };
  }
  if (!isRecord(value)) {
    issues.push(`${formatPath(path)}: expected a log file path or { file, level }, received ${kindOf(value)}`);
    return { file: null, level: "info" };
  }
  const log = parseAt(logObjectSchema, value, path, issues);
  return { file: log?.file === undefined ? null : resolve(baseDir, log.file), level: log?.level ?? "info" };
}

const COMMAND_SET_RULE = `"all", or a list of command ids and [first, last] ranges (integers 0 to ${ALL_COMMANDS[1]})`;
const MAX_RANGE_ISSUES = 10;

function isCommandId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= ALL_COMMANDS[1];
}

/** Parse "all" or a list of ids and ranges into sorted, merged ranges. */
function parseCommandSet(value: unknown, path: KeyPath, issues: string[]): CommandRange[] | undefined {
  if (value === "all") return [ALL_COMMANDS];
  if (!Array.isArray(value)) {
    issues.push(`${formatPath(path)}: expected ${COMMAND_SET_RULE}, received ${typeof value === "string" ? quoteKey(value) : kindOf(value)}`);
    return undefined;
  }
  const ranges: Array<[number, number]> = [];
  let bad = 0;
  const fail = (line: string) => {
    if (bad++ < MAX_RANGE_ISSUES) issues.push(line);
  };
  value.forEach((item: unknown, i) => {
    if (isCommandId(item)) ranges.push([item, item]);
    else if (Array.isArray(item) && item.length === 2 && isCommandId(item[0]) && isCommandId(item[1])) {
      if (item[0] > item[1]) fail(`${formatPath([...path, i])}: the range starts at ${item[0]}, after its end ${item[1]}`);
      else ranges.push([item[0], item[1]]);
    } else fail(`${formatPath([...path, i])}: expected a command id or a [first, last] range (integers 0 to ${ALL_COMMANDS[1]}), received ${kindOf(item)}`);
  });
  if (bad > MAX_RANGE_ISSUES) issues.push(`${formatPath(path)}: ${bad - MAX_RANGE_ISSUES} more bad entries`);
  if (bad > 0) return undefined;
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/** `forward`: a command set for the node's only root, or `{ to, commands }`. */
function parseForward(value: unknown, path: KeyPath, name: string, roots: readonly string[], issues: string[]): ForwardSettings | null {
  let to: string | undefined;
  let commands: unknown = value;
  if (isRecord(value)) {
    const parsed = parseAt(z.object({ to: z.string().min(1), commands: z.unknown().optional() }).strict(), value, path, issues);
    if (parsed === undefined) return null;
    if (parsed.commands === undefined) {
      issues.push(`${formatPath([...path, "commands"])}: required: ${COMMAND_SET_RULE}`);
      return null;
    }
    to = parsed.to;
    commands = parsed.commands;
  }
  const ranges = parseCommandSet(commands, to === undefined ? path : [...path, "commands"], issues);
  if (ranges === undefined) return null;
  if (to === undefined) {
    const only = roots.length === 1 ? roots[0] : undefined;
    if (only !== undefined) to = only;
    else if (roots.length === 0) {
      issues.push(`${formatPath(path)}: server "${name}" has no remoteport, so there is no root to forward to`);
      return null;
    } else {
      issues.push(`${formatPath(path)}: server "${name}" links to ${roots.length} roots (${listNames(roots)}); name one: { "to": "${roots[0]}", "commands": ... }`);
      return null;
    }
  } else if (!roots.includes(to)) {
    issues.push(`${formatPath([...path, "to"])}: ${quoteKey(to)} is not in this server's remoteport${roots.length > 0 ? ` (${listNames(roots)})` : ""}`);
    return null;
  }
  return ranges.length === 0 ? null : { to, ranges };
}

/**
 * Validate a cluster config object and normalize it. Throws ConfigError listing every problem,
 * each naming its key path. Hostile input (null, arrays, huge or deeply nested values) gives a
 * ConfigError in bounded time.
 */
export function parseClusterConfig(value: unknown, options: ParseClusterOptions = {}): ClusterConfig {
  const source = options.source ?? "(inline)";
  const baseDir = resolve(options.baseDir ?? process.cwd());
  const lookup: ModuleLookup = { checkFiles: options.checkFiles ?? true, seen: new Map() };
  const issues: string[] = [];
  const notices: string[] = [];

  const top = parseAt(clusterSchema, value, [], issues);
  if (top === undefined) throw new ConfigError(source, issues);

  // Master.
  const m = top.master === undefined ? {} : (parseAt(masterSchema, top.master, ["master"], issues) ?? {});
  const restart: RestartSettings = { ...DEFAULT_RESTART, ...m.restart };
  if (restart.initialDelayMs > restart.maxDelayMs) {
    issues.push(`master.restart.maxDelayMs: must be at least initialDelayMs (${restart.initialDelayMs})`);
  }
  const masterHost = m.host ?? DEFAULT_HOST;
  const roothost = m.roothost ?? DEFAULT_HOST;
  const rootport = m.rootport ?? 0;
  const masterListeners: ClusterListener[] = [{ role: "root", host: roothost, port: rootport, key: "master.rootport" }];
  if (m.webport !== undefined) masterListeners.push({ role: "web", host: masterHost, port: m.webport, key: "master.webport" });
  const master: MasterSettings = {
    host: masterHost,
    webport: m.webport ?? null,
    rootport,
    roothost,
    registry: { host: connectHost(roothost), port: rootport },
    listeners: masterListeners,
    log: parseLog(m.log, ["master", "log"], baseDir, issues),
    restart,
    stopDeadlineMs: m.stopDeadlineMs ?? DEFAULT_MASTER_STOP_DEADLINE_MS,
    tokenFile: resolve(baseDir, m.tokenFile ?? DEFAULT_TOKEN_FILE),
  };

  // db: glowfly's URL or { url, … }, Firefly's one pool, or G-Firefly's named pools; servers with `db: true` use it.
  let db: DbSettings | null = null;
  let serverDb: SqlConfigInput | null = null;
  const dbUsers = isRecord(top.servers) ? Object.entries(top.servers).filter(([, v]) => isRecord(v) && v.db === true).map(([k]) => k) : [];
  if (top.db !== undefined) {
    // Settings no node opens are only shape-checked: a half-filled block in a config that does not use it is no error.
    if (typeof top.db === "string" || (isRecord(top.db) && "url" in top.db)) {
      serverDb = checkDbInput(top.db, baseDir, "db", issues);
    } else {
      db = parseDb(top.db, issues) ?? null;
      const entries = db === null ? [] : [...db.pools.entries()];
      const [first, pool] = entries.find(([name]) => name === "default") ?? entries[0] ?? [];
      if (db !== null && first !== undefined && dbUsers.length > 0) serverDb = checkDbInput(pool, baseDir, db.form === "flat" ? "db" : `db.${first}`, issues);
      if (db !== null && db.form === "pools") notices.push(`db: pools ${listNames([...db.pools.keys()])}; nodes with db: true use pool "${first}" (one pool per cluster)`);
    }
    if (dbUsers.length === 0) notices.push("db: accepted; no server has db: true, so no node opens it");
    else notices.push(`db: opened by ${listNames(dbUsers)} (db: true), each with its own entity cache and journal`);
    if (dbUsers.length > 1 && top.ownership === undefined) notices.push("ownership: several nodes share the database; entities have one owner at a time through the master (set ownership to { redis } to use Redis)");
  }
  let cache: CacheSettings | null = null;
  if (top.memcached !== undefined) {
    cache = parseMemcached(top.memcached, issues) ?? null;
    if (cache !== null && top.ownership === undefined && dbUsers.length <= 1) {
      notices.push(
        'memcached: accepted, not used; glowfly needs no cache server (each node with db: true caches in its own process). What memcached did in Firefly — one copy of each entity for every process — is "ownership": { "redis": "redis://host:6379" } (Redis leases); without it, nodes on one database write back only the columns they changed and the last write-back of a column wins',
      );
    } else if (cache !== null) {
      notices.push("memcached: accepted, not used; entities are shared through ownership instead");
    }
  }

  // Servers: each checked on its own first (zod's record would drop a "__proto__" key).
  const servers = new Map<string, ServerParsed>();
  const allNames: string[] = [];
  if (!isRecord(top.servers)) {
    issues.push(
      top.servers === undefined
        ? 'servers: required: a cluster config names its nodes under "servers"'
        : `servers: expected an object of servers ({ "name": { ... } }), received ${kindOf(top.servers)}`,
    );
  } else {
    const raw = top.servers;
    for (const name of Object.keys(raw)) {
      allNames.push(name);
      if (!NODE_NAME_PATTERN.test(name)) issues.push(`${formatPath(["servers", name])}: a server's key is its node name: ${NODE_NAME_RULE}`);
      const parsed = parseAt(serverSchema, raw[name], ["servers", name], issues);
      if (parsed !== undefined) servers.set(name, parsed);
    }
    if (allNames.length === 0) issues.push("servers: a cluster needs at least one server");
  }
  const nameSet = new Set(allNames);

  // Per node.
  const nodes = new Map<string, ClusterNode>();
  const rootsOf = new Map<string, string[]>();
  const logFiles = new Map<string, string>();
  for (const [name, s] of servers) {
    const at = (...keys: PropertyKey[]) => formatPath(["servers", name, ...keys]);
    const nodeHost = s.host ?? DEFAULT_HOST;

    if (s.name !== undefined && s.name !== name) {
      notices.push(`${at("name")}: ${quoteKey(s.name)} differs from the server's key; the node is named "${name}" (the key), as in Firefly`);
    }
    if (s.netport === undefined) {
      if (s.frame !== undefined) issues.push(`${at("frame")}: applies to the netport, and this server has none`);
      if (s.firefly !== undefined) issues.push(`${at("firefly")}: applies to the netport, and this server has none`);
    } else if (s.frame === "native" && s.firefly !== undefined) {
      issues.push(`${at("firefly")}: applies to frame "firefly", and this netport is "native"`);
    }
    if (s.wsport === undefined && s.wspath !== undefined) issues.push(`${at("wspath")}: applies to the wsport, and this server has none`);
    if (s.limits !== undefined) issues.push(...limitRelationIssues(at("limits"), resolveLimits(s.limits, undefined)));

    // Listeners.
    const listeners: ClusterListener[] = [];
    const listen = (role: ClusterListener["role"], key: string, p: number | undefined) => {
      if (p !== undefined) listeners.push({ role, host: nodeHost, port: p, key: at(key) });
    };
    listen("net", "netport", s.netport);
    listen("ws", "wsport", s.wsport);
    listen("root", "rootport", s.rootport);
    listen("web", "webport", s.webport);

    // Links.
    const links: ClusterLink[] = [];
    const roots: string[] = [];
    const linked = new Map<string, number>();
    s.remoteport?.forEach((r, i) => {
      const rootname = r.rootname;
      if (!nameSet.has(rootname)) {
        const near = allNames.length > 0 ? ` (servers: ${listNames(allNames)})` : "";
        issues.push(`${at("remoteport", i, "rootname")}: ${quoteKey(rootname)} is not a server${near}`);
        return;
      }
      const first = linked.get(rootname);
      if (first !== undefined) {
        issues.push(`${at("remoteport", i, "rootname")}: "${rootname}" is already linked by remoteport[${first}]`);
        return;
      }
      linked.set(rootname, i);
      roots.push(rootname);
      const root = servers.get(rootname);
      if (root === undefined) return; // its own problems are reported under its path
      if (root.rootport === undefined) {
        issues.push(`${at("remoteport", i, "rootname")}: server "${rootname}" has no rootport, so nothing can link to it`);
        return;
      }
      if (r.rootport !== undefined && r.rootport !== root.rootport) {
        issues.push(`${at("remoteport", i, "rootport")}: ${r.rootport} differs from ${formatPath(["servers", rootname, "rootport"])} (${root.rootport})`);
      }
      links.push({ rootName: rootname, host: r.roothost ?? connectHost(root.host ?? DEFAULT_HOST), port: root.rootport });
    });
    rootsOf.set(name, roots);

    // Modules and log.
    const appSpecs = s.app === undefined ? [] : typeof s.app === "string" ? [s.app] : s.app;
    const apps = appSpecs.map((spec, i) => resolveModule(spec, baseDir, typeof s.app === "string" ? ["servers", name, "app"] : ["servers", name, "app", i], lookup, issues));
    const reload = s.reload === undefined ? null : resolveModule(s.reload, baseDir, ["servers", name, "reload"], lookup, issues);
    const log = parseLog(s.log, ["servers", name, "log"], baseDir, issues);
    if (log.file !== null) {
      const other = logFiles.get(log.file);
      if (other !== undefined) notices.push(`${at("log")}: the same file as ${formatPath(["servers", other, "log"])}; both nodes write to it`);
      else logFiles.set(log.file, name);
    }

    const forward = s.forward === undefined ? null : parseForward(s.forward, ["servers", name, "forward"], name, roots, issues);
    if (s.forward !== undefined && s.netport === undefined && s.wsport === undefined) {
      issues.push(`${at("forward")}: forwards client commands, and this server has no netport or wsport`);
    }

    // Sessions: a gateway needs clients, and the scenes it names must be servers of this cluster.
    if (s.sessions !== undefined) {
      if (s.netport === undefined && s.wsport === undefined) {
        issues.push(`${at("sessions")}: sessions need client ports (netport or wsport), and this server has none`);
      }
      if (s.sessions !== true) {
        const notServer = (scene: string, ...keys: PropertyKey[]) => {
          if (!nameSet.has(scene)) issues.push(`${at("sessions", ...keys)}: ${quoteKey(scene)} is not a server (servers: ${listNames(allNames)})`);
        };
        if (s.sessions.scene !== undefined) notServer(s.sessions.scene, "scene");
        if (typeof s.sessions.sceneLost === "object") notServer(s.sessions.sceneLost.fallback, "sceneLost", "fallback");
      }
    }

    // Roles, and notices for roles that are accepted but have no effect yet.
    const roles = ROLES.filter((role) => {
      switch (role) {
        case "net":
          return s.netport !== undefined;
        case "ws":
          return s.wsport !== undefined;
        case "root":
          return s.rootport !== undefined;
        case "remote":
          return roots.length > 0;
        case "web":
          return s.webport !== undefined;
        case "db":
          return s.db === true;
        case "cache":
          return s.mem === true;
      }
    });
    if (s.webport !== undefined) notices.push(`${at("webport")}: role "web" accepted and the port reserved; node HTTP sites are not built yet, nothing listens on it`);
    if (s.db === true && top.db === undefined) notices.push(`${at("db")}: no top-level db block; the node uses the embedded SQLite database ${DEFAULT_SQLITE}`);
    if (s.mem === true) notices.push(`${at("mem")}: accepted; the entity cache is in the process of every node with db: true, mem changes nothing`);
    if (s.cpu !== undefined) notices.push(`${at("cpu")}: accepted and not applied; Node.js cannot set CPU affinity`);
    if (listeners.length === 0 && (s.remoteport?.length ?? 0) === 0 && apps.length === 0) {
      notices.push(`${at()}: no ports, no remoteport and no app; the node will start and do nothing`);
    }
    const nodeStopMs = s.stopDeadlineMs ?? DEFAULT_NODE_STOP_DEADLINE_MS;
    if (nodeStopMs >= master.stopDeadlineMs) {
      notices.push(`${at("stopDeadlineMs")}: ${nodeStopMs} ms is not below master.stopDeadlineMs (${master.stopDeadlineMs}); the master may kill the node before it has stopped`);
    }

    // The client-facing part, as a node config.
    const node: NodeConfigInput = { name };
    if (apps.length > 0) node.app = apps;
    if (s.codec !== undefined) node.codec = s.codec;
    if (s.netport !== undefined) {
      const frame = s.frame ?? "firefly";
      node.tcp = [{ port: s.netport, host: nodeHost, frame, ...(s.firefly === undefined ? {} : { firefly: s.firefly }) }];
    }
    if (s.wsport !== undefined) node.ws = [{ port: s.wsport, host: nodeHost, path: s.wspath ?? "/" }];
    if (s.limits !== undefined) node.limits = s.limits;
    if (s.maxConnections !== undefined) node.maxConnections = s.maxConnections;
    if (s.stopDeadlineMs !== undefined) node.stopDeadlineMs = s.stopDeadlineMs;
    if (log.level !== "info") node.log = { level: log.level };
    if (s.db === true) {
      node.db = serverDb ?? `sqlite:${resolve(baseDir, DEFAULT_SQLITE)}`;
      // Several nodes on one database: one owner per entity, by default through the master.
      const ownership = top.ownership ?? (dbUsers.length > 1 ? "master" : undefined);
      node.data = { journal: resolve(baseDir, "data/journal", name), ...(ownership === undefined ? {} : { ownership }) };
    }
    if (s.sessions !== undefined) node.sessions = s.sessions;

    nodes.set(name, {
      name,
      roles,
      host: nodeHost,
      listeners,
      links,
      apps,
      reload,
      log,
      codec: s.codec ?? "json",
      timeouts: { ...DEFAULT_TIMEOUTS, ...s.timeouts },
      forward,
      cpu: s.cpu ?? null,
      sessions: s.sessions === undefined ? null : resolveSessionSettings(s.sessions),
      node,
    });
  }

  // Ports: one listener per port and host across the master and every node.
  checkPorts([...master.listeners, ...[...nodes.values()].flatMap((n) => n.listeners)], issues);

  // Links: no cycles; roots start first.
  const { order, cycles } = orderByLinks([...nodes.keys()], rootsOf);
  for (const cycle of cycles) {
    const shown = cycle.length > 12 ? [...cycle.slice(0, 10), `… (${cycle.length - 1} servers)`, cycle[cycle.length - 1] as string] : cycle;
    issues.push(`${formatPath(["servers", cycle[0] as string, "remoteport"])}: remoteport cycle: ${shown.join(" -> ")}`);
  }

  if (issues.length > 0) throw new ConfigError(source, issues);
  return { source, baseDir, master, nodes, startOrder: order, stopOrder: [...order].reverse(), db, cache, notices };
}

/**
 * Two listeners clash if they share a port (other than 0, "any free port") and a host; a
 * wildcard host (0.0.0.0, ::) clashes with every host. One issue per clashing listener, naming
 * the first listener it clashes with.
 */
function checkPorts(listeners: readonly ClusterListener[], issues: string[]): void {
  const byPort = new Map<number, { hosts: Map<string, ClusterListener>; wildcard?: ClusterListener; any: ClusterListener }>();
  for (const l of listeners) {
    if (l.port === 0) continue;
    const h = canonicalHost(l.host);
    const wildcard = WILDCARD_HOSTS.has(h);
    const used = byPort.get(l.port);
    if (used === undefined) {
      byPort.set(l.port, { hosts: new Map([[h, l]]), ...(wildcard ? { wildcard: l } : {}), any: l });
      continue;
    }
    const clash = wildcard ? used.any : (used.wildcard ?? used.hosts.get(h));
    if (clash !== undefined) {
      const where = clash.host === l.host ? `on ${l.host}` : `on ${l.host} (${clash.host})`;
      issues.push(`${l.key}: port ${l.port} ${where} is already used by ${clash.key}`);
      continue;
    }
    used.hosts.set(h, l);
    if (wildcard) used.wildcard = l;
  }
}

/**
 * Order nodes so that each comes after every root it links to (depth-first, config order
 * otherwise), and find the cycles that make that impossible. Iterative, so a chain of 10k nodes
 * does not exhaust the stack. Each cycle is listed from the node where the search entered it,
 * ending with that node again.
 */
function orderByLinks(names: readonly string[], rootsOf: ReadonlyMap<string, readonly string[]>): { order: string[]; cycles: string[][] } {
  const done = new Set<string>();
  const onStack = new Map<string, number>();
  const order: string[] = [];
  const cycles: string[][] = [];
  for (const start of names) {
    if (done.has(start)) continue;
    const stack: Array<{ name: string; next: number }> = [{ name: start, next: 0 }];
    onStack.set(start, 0);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { name: string; next: number };
      const roots = rootsOf.get(top.name) ?? [];
      if (top.next < roots.length) {
        const root = roots[top.next++] as string;
        if (!rootsOf.has(root) || done.has(root)) continue; // unknown or already ordered
        const at = onStack.get(root);
        if (at !== undefined) cycles.push([...stack.slice(at).map((f) => f.name), root]);
        else {
          onStack.set(root, stack.length);
          stack.push({ name: root, next: 0 });
        }
      } else {
        stack.pop();
        onStack.delete(top.name);
        done.add(top.name);
        order.push(top.name);
      }
    }
  }
  return { order, cycles };
}

/**
 * Check db settings with the SQL layer's parser; a SQLite path becomes absolute (relative to the
 * config file), so every node process opens the same file whatever its working directory.
 */
function checkDbInput(input: unknown, baseDir: string, at: string, issues: string[]): SqlConfigInput | null {
  try {
    const config = parseDbConfig(input, { dataDir: baseDir, path: at });
    if (config.dialect === "sqlite" && config.file !== ":memory:") return typeof input === "object" && input !== null ? { ...(input as DbUrlSettings), url: `sqlite:${config.file}` } : `sqlite:${config.file}`;
    return input as SqlConfigInput;
  } catch (err) {
    if (!(err instanceof DbConfigError)) throw err;
    issues.push(...err.issues);
    return null;
  }
}
