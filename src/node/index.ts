export * from "./node.ts";
export * from "./app.ts";
export * from "./registry.ts";
export { routers, type Router } from "./routers.ts";
export type { ClientRef } from "./forward-wire.ts";
