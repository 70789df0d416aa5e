/** glowfly server API. The client SDK is `glowfly/client`. */
export * from "./node/index.ts";
export * from "./protocol/index.ts";
export * from "./config/index.ts";
export * from "./log/logger.ts";
export type { ListenAddress, ConnectionLimits, TransportKind } from "./transport/index.ts";
export { DEFAULT_LIMITS } from "./transport/index.ts";
export * from "./rpc/index.ts";
export * from "./data/index.ts";
export * from "./session/index.ts";
