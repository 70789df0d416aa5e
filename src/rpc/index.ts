/** Inter-node RPC: service declarations, links, the root and remote roles. */
export { service, ServiceRegistry } from "./service.ts";
export { MAX_NODE_NAME, MAX_SERVICE_NAME } from "./names.ts";
export type { ServiceDef, ServiceOptions, ServiceHandler, ServiceContext, ServiceEntry, ArgsOf, ResultOf, ArgsValidator, ChannelHandler } from "./service.ts";
export type { RawDone } from "./calls.ts";
export type { ReplyType } from "./pending.ts";
export { RpcError, RpcErrorCode, rpcErrorName } from "./errors.ts";
export type { Caller } from "./caller.ts";
export type { RpcCounters } from "./counters.ts";
export { Link } from "./link.ts";
export type { LinkState, LinkRole, LinkCloseInfo } from "./link.ts";
export { RootServer } from "./root.ts";
export type { RootServerOptions, RootStats, ChildCaller, ChildConnectedListener, ChildLostListener } from "./root.ts";
export { RootClient } from "./remote.ts";
export type { RootClientOptions, RootClientState, RootClientStats } from "./remote.ts";
export { DEFAULT_LINK_OPTIONS, backoffDelay } from "./options.ts";
export type { LinkOptions, ReconnectOptions } from "./options.ts";
export { LINK_VERSION, encodeHello, decodeHello, encodeCall, decodeCall } from "./wire.ts";
export type { LinkHello } from "./wire.ts";
