/**
 * What the cache writes to the journal before it acknowledges a change: one record per create,
 * update or delete, msgpack `[1, table, op, pk, data]`. Values are absolute (the new column
 * values, never "+1"), so replaying a record that already reached the database changes nothing.
 */
import { codecByName } from "../../protocol/index.ts";

export const Op = { Create: 0, Update: 1, Delete: 2 } as const;
export type Op = (typeof Op)[keyof typeof Op];

export interface CacheRecord {
  table: string;
  op: Op;
  pk: unknown;
  /** Create: the whole row; update: the changed columns; delete: null. */
  data: Record<string, unknown> | null;
}

const FORMAT = 1;
const msgpack = codecByName("msgpack");

export function encodeRecord(record: CacheRecord): Uint8Array {
  return msgpack.encode([FORMAT, record.table, record.op, record.pk, record.data]);
}

/** Throws an Error naming what is wrong (a journal written by something else, or a newer format). */
export function decodeRecord(bytes: Uint8Array): CacheRecord {
  const value = msgpack.decode(bytes);
  if (!Array.isArray(value) || value.length !== 5 || value[0] !== FORMAT) throw new Error("not a cache record of format 1");
  const [, table, op, pk, data] = value as [number, unknown, unknown, unknown, unknown];
  if (typeof table !== "string" || (op !== Op.Create && op !== Op.Update && op !== Op.Delete)) throw new Error("a cache record with a bad table or op");
  if (data !== null && (typeof data !== "object" || Array.isArray(data))) throw new Error("a cache record whose data is not a map");
  return { table, op, pk, data: data as Record<string, unknown> | null };
}
