/** The net node: takes Firefly clients on its netport, answers 100, forwards the rest to the gate. */
import { defineApp } from "../../../src/index.ts";
import { NetHandle, text } from "./commands.ts";

export default defineApp((node) => {
  node.commands.handle(NetHandle, () => text("netHandle_100 completed"));
});
