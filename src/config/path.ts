/**
 * Key paths in config error messages: `servers.gate.remoteport[0].rootport`. A key that is not
 * a plain word (a node name with a dot, a key with spaces) is written in brackets and quotes,
 * `servers["eu.game1"].netport`, so a path always reads back unambiguously. Long keys are cut.
 */
import { z } from "zod";

export type KeyPath = readonly PropertyKey[];

const WORD = /^[A-Za-z0-9_$-]+$/;
const MAX_KEY_CHARS = 64;
/** At most this many unknown keys are listed in one issue line. */
const MAX_LISTED_KEYS = 20;

export function quoteKey(key: string): string {
  return JSON.stringify(key.length > MAX_KEY_CHARS ? `${key.slice(0, MAX_KEY_CHARS)}…` : key);
}

export function formatPath(path: KeyPath): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") {
      out += `[${key}]`;
      continue;
    }
    const text = String(key);
    if (WORD.test(text) && text.length <= MAX_KEY_CHARS) out += out === "" ? text : `.${text}`;
    else out += `[${quoteKey(text)}]`;
  }
  return out === "" ? "(top level)" : out;
}

/** What a value is, for "expected X, received Y" lines. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** A plain record: an object that is neither null nor an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Turn zod issues into issue lines, each under `prefix` + the issue's own path. */
export function issueLines(issues: z.ZodError["issues"], prefix: KeyPath): string[] {
  return issues.map((issue) => {
    const path = formatPath([...prefix, ...issue.path]);
    if (issue.code === "unrecognized_keys") {
      const listed = issue.keys.slice(0, MAX_LISTED_KEYS).map(quoteKey).join(", ");
      const more = issue.keys.length > MAX_LISTED_KEYS ? ` and ${issue.keys.length - MAX_LISTED_KEYS} more` : "";
      return `${path}: unknown key(s) ${listed}${more}`;
    }
    return `${path}: ${issue.message}`;
  });
}

/** Validate `value` with `schema`; on failure push issue lines (under `prefix`) and return undefined. */
export function parseAt<T>(schema: z.ZodType<T>, value: unknown, prefix: KeyPath, issues: string[]): T | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  issues.push(...issueLines(result.error.issues, prefix));
  return undefined;
}

/** A record written as `{ ... }` (or without a prototype): not a Map, a Date or another class's instance. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A value in an issue line: strings quoted (and cut), numbers and booleans as written, else their kind. */
function describeValue(value: unknown): string {
  if (typeof value === "string") return quoteKey(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (isRecord(value) && !isPlainRecord(value)) return "an object that is not a plain { ... } (a Map, a Date, a class instance)";
  return kindOf(value);
}

/**
 * `literal`, or a record checked by `schema`. Not z.union: zod reports a union whose options all
 * fail on a type as one "invalid input" at the union, which would hide the key path of a wrong
 * type inside the object (`sessions.replayMessages: expected number`). Here the object's own
 * issues come through under their paths, and anything else is one issue naming both forms.
 */
export function literalOrObject<const L extends string | boolean, I, O>(literal: L, schema: z.ZodType<O, I>, rule: string) {
  return z.custom<L | I>().transform((value, ctx): L | O => {
    if (value === literal) return literal;
    if (!isPlainRecord(value)) {
      ctx.issues.push({ code: "custom", message: `${rule}, received ${describeValue(value)}`, input: value });
      return z.NEVER;
    }
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    // Re-raised as they are; the path zod adds to them is this key's, so they read `sessions.scene: …`.
    for (const issue of result.error.issues) ctx.issues.push({ ...issue, input: value } as z.core.$ZodRawIssue);
    return z.NEVER;
  });
}
