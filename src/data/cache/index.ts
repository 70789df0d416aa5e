export { EntityCache, CacheBackpressureError, type EntityCacheOptions, type EntityCacheStats } from "./entity-cache.ts";
export { TableCache, EntityExistsError, EntityNotFoundError } from "./table-cache.ts";
export { RedisOwnership, OwnershipTimeoutError, type Ownership, type RedisOwnershipOptions } from "./ownership.ts";
export { HeldLeases } from "./held-leases.ts";
