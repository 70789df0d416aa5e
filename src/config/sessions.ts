/**
 * The `sessions` config key: what a gateway node does with its clients' sessions (login, resume,
 * replay buffers, scenes; docs/sessions.md). Present in a node config (or a cluster config's
 * server) as `true` or an object; every setting has a default. The table is in docs/config.md.
 */
import { z } from "zod";
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from "./names.ts";
import { literalOrObject } from "./path.ts";

/** What a gateway node does with its clients' sessions (docs/sessions.md). All optional in input. */
export interface SessionSettingsInput {
  /** Scene (a node name) new sessions enter when `verify` names none; default: none. */
  scene?: string;
  /** A second login with a uid that has a session here: end the old one, or refuse the new; default "kickOld". */
  duplicateLogin?: "kickOld" | "refuseNew";
  /** A connection that has not logged in this long after connecting is kicked; default 10000. */
  loginTimeoutMs?: number;
  /** Bound on the app's `verify` hook; default 5000. */
  verifyTimeoutMs?: number;
  /** Bound on the `enter` and `leave` hooks at scenes; default 5000. */
  hookTimeoutMs?: number;
  /** How long a detached session may be resumed; default 30000, 0 = resume off. */
  resumeWindowMs?: number;
  /** Pushes kept per session for resume; default 256, 0..65536. */
  replayMessages?: number;
  /** Bytes of pushes kept per session for resume; default 262144 (256 KiB), 0..67108864. */
  replayBytes?: number;
  /** Largest JSON-encoded `data` bag of a session; default 1024, 16..65536. */
  maxDataBytes?: number;
  /** Channels one session may be in; default 64, 1..4096. */
  maxChannels?: number;
  /** Sessions (attached and detached) the gateway holds; default: none (maxConnections bounds the attached). */
  maxSessions?: number;
  /** What happens to sessions whose scene node is lost: end them, or move them to a fallback scene; default "kick". */
  sceneLost?: "kick" | { fallback: string };
}

/** Session settings with every field resolved. */
export interface SessionSettings {
  scene: string | null;
  duplicateLogin: "kickOld" | "refuseNew";
  loginTimeoutMs: number;
  verifyTimeoutMs: number;
  hookTimeoutMs: number;
  resumeWindowMs: number;
  replayMessages: number;
  replayBytes: number;
  maxDataBytes: number;
  maxChannels: number;
  maxSessions: number | null;
  sceneLost: "kick" | { fallback: string };
}

export const DEFAULT_SESSION_SETTINGS: Readonly<SessionSettings> = Object.freeze({
  scene: null,
  duplicateLogin: "kickOld",
  loginTimeoutMs: 10_000,
  verifyTimeoutMs: 5_000,
  hookTimeoutMs: 5_000,
  resumeWindowMs: 30_000,
  replayMessages: 256,
  replayBytes: 256 * 1024,
  maxDataBytes: 1024,
  maxChannels: 64,
  maxSessions: null,
  sceneLost: "kick",
});

/** setTimeout's largest delay; a larger one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const timeoutMs = int(1, MAX_TIMER_MS);
const sceneName = z.string().regex(NODE_NAME_PATTERN, NODE_NAME_RULE);

const sceneLostSchema = literalOrObject<"kick", { fallback: string }, { fallback: string }>(
  "kick",
  z.object({ fallback: sceneName }).strict(),
  'expected "kick" or { "fallback": "<scene>" }',
);

export const sessionSettingsSchema = z
  .object({
    scene: sceneName.optional(),
    duplicateLogin: z.enum(["kickOld", "refuseNew"]).optional(),
    loginTimeoutMs: timeoutMs.optional(),
    verifyTimeoutMs: timeoutMs.optional(),
    hookTimeoutMs: timeoutMs.optional(),
    resumeWindowMs: int(0, MAX_TIMER_MS).optional(),
    replayMessages: int(0, 65_536).optional(),
    replayBytes: int(0, 64 * 1024 * 1024).optional(),
    maxDataBytes: int(16, 65_536).optional(),
    maxChannels: int(1, 4096).optional(),
    maxSessions: int(1, 10_000_000).optional(),
    sceneLost: sceneLostSchema.optional(),
  })
  .strict();

// The interface above is the documented input; this fails to compile if the schema drifts from it.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _schemaMatchesInput: Same<z.input<typeof sessionSettingsSchema>, SessionSettingsInput> = true;

/**
 * Every setting, defaults filled in. `true` and `undefined` give the defaults. The input is taken
 * as valid (parseNodeConfig and parseClusterConfig check it with sessionSettingsSchema first).
 */
export function resolveSessionSettings(input: SessionSettingsInput | undefined | true): SessionSettings {
  const s: SessionSettingsInput = input === true || input === undefined ? {} : input;
  const d = DEFAULT_SESSION_SETTINGS;
  return {
    scene: s.scene ?? d.scene,
    duplicateLogin: s.duplicateLogin ?? d.duplicateLogin,
    loginTimeoutMs: s.loginTimeoutMs ?? d.loginTimeoutMs,
    verifyTimeoutMs: s.verifyTimeoutMs ?? d.verifyTimeoutMs,
    hookTimeoutMs: s.hookTimeoutMs ?? d.hookTimeoutMs,
    resumeWindowMs: s.resumeWindowMs ?? d.resumeWindowMs,
    replayMessages: s.replayMessages ?? d.replayMessages,
    replayBytes: s.replayBytes ?? d.replayBytes,
    maxDataBytes: s.maxDataBytes ?? d.maxDataBytes,
    maxChannels: s.maxChannels ?? d.maxChannels,
    maxSessions: s.maxSessions ?? d.maxSessions,
    // A copy, so the resolved settings do not share an object with the caller's config.
    sceneLost: s.sceneLost === undefined || s.sceneLost === "kick" ? "kick" : { fallback: s.sceneLost.fallback },
  };
}
