export * from "./node.ts";
export * from "./app.ts";
export * from "./registry.ts";
export { routers, type ClientRef, type Router } from "./forwarding.ts";
