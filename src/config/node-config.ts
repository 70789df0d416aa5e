/**
 * The config of one node: which ports it listens on, with which frame format and limits, and
 * which app module it runs. Every key is listed in docs/config.md. Validation errors name the
 * key path and what was expected; unknown keys are errors, never silently ignored.
 */
import { z } from "zod";
import { DEFAULT_LIMITS, type ConnectionLimits } from "../transport/limits.ts";
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from "./names.ts";
import { literalOrObject } from "./path.ts";
import { sessionSettingsSchema, type SessionSettingsInput } from "./sessions.ts";
import { dataSettingsSchema } from "./data.ts";
import { parseDbConfig } from "../data/sql/config.ts";
import { DbConfigError } from "../data/sql/errors.ts";

const positiveInt = z.number().int().positive();
const port = z.number().int().min(0).max(65535);
const byte = z.number().int().min(0).max(255);

// Defined in names.ts (sessions.ts needs them too, and importing this file from there would be a cycle).
export { NODE_NAME_PATTERN, NODE_NAME_RULE };
export const logLevelSchema = z.enum(["debug", "info", "warn", "error", "silent"]);

export const limitsSchema = z
  .object({
    maxBodyBytes: positiveInt.max(64 * 1024 * 1024),
    maxOutboundBytes: positiveInt,
    maxInFlight: positiveInt.max(65536),
    heartbeatMs: positiveInt,
    idleTimeoutMs: positiveInt,
    handshakeTimeoutMs: positiveInt,
  })
  .partial()
  .strict();

export const fireflySchema = z
  .object({
    magic: z.tuple([byte, byte, byte, byte]).optional(),
    protocolVersion: byte.optional(),
    serverVersion: z.number().int().min(0).max(0xffff_ffff).optional(),
    errors: z.enum(["reply", "drop"]).optional(),
  })
  .strict();

const tcpListenerSchema = z
  .object({
    port,
    host: z.string().min(1).optional(),
    frame: z.enum(["native", "firefly"]).optional(),
    firefly: fireflySchema.optional(),
    limits: limitsSchema.optional(),
  })
  .strict();

const wsListenerSchema = z
  .object({
    port,
    host: z.string().min(1).optional(),
    path: z.string().startsWith("/").optional(),
    limits: limitsSchema.optional(),
  })
  .strict();

/**
 * The `sessions` key of a node config and of a cluster config's server: `true` (sessions on, all
 * defaults) or an object of settings (docs/sessions.md).
 */
export const sessionsSchema = literalOrObject<true, SessionSettingsInput, z.output<typeof sessionSettingsSchema>>(
  true,
  sessionSettingsSchema,
  "expected true or an object of session settings",
);

export const nodeConfigSchema = z
  .object({
    name: z.string().regex(NODE_NAME_PATTERN, NODE_NAME_RULE),
    app: z.union([z.string().min(1), z.array(z.string().min(1))], { error: "expected a module path or a list of module paths" }).optional(),
    codec: z.enum(["raw", "json", "msgpack"]).optional(),
    tcp: z.array(tcpListenerSchema).optional(),
    ws: z.array(wsListenerSchema).optional(),
    limits: limitsSchema.optional(),
    maxConnections: positiveInt.max(10_000_000).optional(),
    stopDeadlineMs: positiveInt.optional(),
    log: z.object({ level: logLevelSchema.optional() }).strict().optional(),
    sessions: sessionsSchema.optional(),
    /** The node's database: a URL (`sqlite:…`, `postgres://…`, `mysql://…`), `{ url, poolSize?, … }`, or Firefly's `db` block (docs/data.md). */
    db: z.unknown().optional(),
    /** The node's entity cache and journal; used with `db`. */
    data: dataSettingsSchema.optional(),
  })
  .strict();

/** A node config as written in a file (every key but `name` optional). */
export type NodeConfigInput = z.input<typeof nodeConfigSchema>;
export type LimitsInput = z.input<typeof limitsSchema>;
export type FireflyFrameInput = z.input<typeof fireflySchema>;

/** Thrown for a config that does not validate; `issues` holds one line per problem. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string,
    readonly issues: readonly string[],
  ) {
    super(`invalid config ${source}:\n  ${issues.join("\n  ")}`);
  }
}

function describePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  return out === "" ? "(top level)" : out;
}

/** Validate a parsed config object; throws ConfigError naming each bad key path. */
export function parseNodeConfig(value: unknown, source = "(inline)"): NodeConfigInput {
  const result = nodeConfigSchema.safeParse(value);
  if (result.success) {
    checkLimitRelations(result.data, source);
    checkDb(result.data, source);
    return result.data;
  }
  const issues = result.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return `${describePath(issue.path)}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    }
    return `${describePath(issue.path)}: ${issue.message}`;
  });
  throw new ConfigError(source, issues);
}

/** Resolve a port's limits: defaults, then node-level, then port-level. */
export function resolveLimits(nodeLimits: LimitsInput | undefined, portLimits: LimitsInput | undefined): ConnectionLimits {
  return { ...DEFAULT_LIMITS, ...nodeLimits, ...portLimits };
}

/** The relations between resolved limits that must hold; one issue line per broken one, under `path`. */
export function limitRelationIssues(path: string, limits: ConnectionLimits): string[] {
  const issues: string[] = [];
  if (limits.maxOutboundBytes < limits.maxBodyBytes + 64) {
    issues.push(`${path}.maxOutboundBytes: must hold at least one full frame (maxBodyBytes + 64 = ${limits.maxBodyBytes + 64})`);
  }
  if (limits.idleTimeoutMs <= limits.heartbeatMs) {
    issues.push(`${path}.idleTimeoutMs: must be greater than heartbeatMs (${limits.heartbeatMs}) so a heartbeat can be answered`);
  }
  return issues;
}

/** `db` is checked by the SQL layer's parser (every form, key paths, no password echoed). */
function checkDb(config: NodeConfigInput, source: string): void {
  if (config.db === undefined) {
    if (config.data !== undefined) throw new ConfigError(source, ["data: settings for the entity cache, and there is no db"]);
    return;
  }
  try {
    parseDbConfig(config.db);
  } catch (err) {
    if (err instanceof DbConfigError) throw new ConfigError(source, err.issues);
    throw err;
  }
}

function checkLimitRelations(config: NodeConfigInput, source: string): void {
  const issues: string[] = [];
  const check = (path: string, limits: ConnectionLimits) => {
    issues.push(...limitRelationIssues(path, limits));
  };
  check("limits", resolveLimits(config.limits, undefined));
  config.tcp?.forEach((l, i) => check(`tcp[${i}].limits`, resolveLimits(config.limits, l.limits)));
  config.ws?.forEach((l, i) => check(`ws[${i}].limits`, resolveLimits(config.limits, l.limits)));
  if (issues.length > 0) throw new ConfigError(source, issues);
}
