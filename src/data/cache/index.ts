export { EntityCache, CacheBackpressureError, type EntityCacheOptions, type EntityCacheStats } from "./entity-cache.ts";
export { TableCache, EntityExistsError, EntityNotFoundError } from "./table-cache.ts";
