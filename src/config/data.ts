/**
 * The `data` key of a node config: the node's entity cache and journal (docs/data.md). The
 * database itself is the `db` key (a URL, `{ url, … }` or Firefly's block), checked by the SQL
 * layer's own parser so that its messages name the key.
 */
import { z } from "zod";

const MAX_TIMER_MS = 2_147_483_647;
const ms = z.number().int().positive().max(MAX_TIMER_MS);

export const ownershipSchema = z
  .object({
    redis: z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL"),
    ttlMs: z.number().int().min(1000).max(600_000).optional(),
    waitMs: z.number().int().min(10).max(600_000).optional(),
    prefix: z.string().min(1).max(64).optional(),
  })
  .strict();

export const dataSettingsSchema = z
  .object({
    /** Journal folder (a change is acknowledged once durable there), or false for none. Default: `data/journal/<node>`. */
    journal: z.union([z.string().min(1).max(4096), z.literal(false)]).optional(),
    /** When journal appends reach the disk: every write (default), group commit, or never forced. */
    fsync: z.union([z.enum(["always", "off"]), z.object({ groupMs: z.number().int().min(1).max(10_000) }).strict()]).optional(),
    flushIntervalMs: ms.optional(),
    maxEntities: z.number().int().min(1).max(100_000_000).optional(),
    maxDirty: z.number().int().min(1).max(100_000_000).optional(),
    maxWaitMs: ms.optional(),
    idBlockSize: z.number().int().min(1).max(1_000_000).optional(),
    /** One owner per entity across the nodes sharing the database, through Redis leases (docs/data.md, "Several nodes"). */
    ownership: z.union([z.literal("master"), ownershipSchema], { error: 'expected "master" or { redis, ttlMs?, waitMs?, prefix? }' }).optional(),
  })
  .strict();

export type DataSettingsInput = z.input<typeof dataSettingsSchema>;
