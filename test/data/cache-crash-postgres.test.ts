/**
 * A writer process with the entity cache and its journal on PostgreSQL, killed with SIGKILL twice in the
 * middle of heavy traffic (fsync "always" and group commit): after a restart replays the journal,
 * every acknowledged create and update is in the database exactly once, and nothing else is but
 * the changes in flight at the kill. The writer and the checks are in cache-writer.ts.
 */
import { crashTestsOn } from "./cache-writer.ts";

crashTestsOn("postgres");
