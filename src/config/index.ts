export * from "./node-config.ts";
export * from "./load.ts";
export * from "./cluster.ts";
export * from "./define.ts";
export * from "./sessions.ts";
export { isDottedModuleName, dottedModuleCandidates, type DbSettings, type CacheSettings, type DbPoolInput, type DbConfigInput, type MemcachedConfigInput } from "./firefly.ts";
