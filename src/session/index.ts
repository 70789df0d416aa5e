export { Sessions, type SessionRef, type SessionRoutes, type EnterHook, type LeaveHook, type OfflineHook } from "./sessions.ts";
export { SessionGateway, type Verdict, type VerifyHook, type SceneHooks, type GatewayStats } from "./gateway.ts";
export { GatewaySession, type SessionConnection } from "./gateway-session.ts";
export { ReplayBuffer, type Replayed } from "./replay.ts";
export { FanoutKind } from "./wire.ts";
