/**
 * A chat scene (run as scene1 and scene2): sessions that enter join the room channel; what they
 * say is pushed to the room; join, leave and move notices go to everyone.
 */
import { defineApp } from "../../src/index.ts";
import { Joined, Left, Move, Moved, ROOM, Said, Say } from "./protocol.ts";

export default defineApp((node) => {
  const sessions = node.sessions;
  sessions.onEnter(async (session, fromScene) => {
    await sessions.join(session, ROOM);
    const member = { name: session.uid, scene: node.name };
    if (fromScene === null) sessions.pushChannel(ROOM, Joined, member);
    else sessions.pushChannel(ROOM, Moved, member);
  });
  sessions.onOffline((session) => sessions.pushChannel(ROOM, Left, { name: session.uid }));
  node.commands.handle(Say, (request, client) => {
    sessions.pushChannel(ROOM, Said, { from: client.session!.uid, text: request.text.trim(), scene: node.name, at: Date.now() });
    return null;
  });
  node.commands.handle(Move, async (_request, client) => {
    const to = node.name === "scene1" ? "scene2" : "scene1";
    await sessions.changeScene(client.session!, to);
    return { scene: to };
  });
});
