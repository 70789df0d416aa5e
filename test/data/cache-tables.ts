/** The table the cache tests and their child writer share. */
import { column, defineTable } from "../../src/index.ts";

export const Players = defineTable("cache_players", {
  columns: {
    id: column.integer(),
    name: column.text({ maxLength: 32 }),
    level: column.integer().default(1),
    gold: column.integer().default(0),
    guild: column.integer().nullable(),
  },
  primaryKey: "id",
  indexes: [{ columns: ["name"], unique: true }, { columns: ["guild"] }],
});
