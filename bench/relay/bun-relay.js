// The floor: a bare Bun pub/sub relay. A client subscribes to the rooms named in `?r=a,b` when
// it connects; a text frame "room|payload" is published to every subscriber of the room (the
// sender too, as natter and Centrifugo do). Nothing is authenticated or persisted.
const port = Number(process.env.PORT || 9001);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req, server) {
    const rooms = (new URL(req.url).searchParams.get("r") || "").split(",").filter(Boolean);
    if (server.upgrade(req, { data: { rooms } })) return undefined;
    return new Response("websocket only", { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    idleTimeout: 960,
    backpressureLimit: 16 * 1024 * 1024,
    open(ws) {
      for (const room of ws.data.rooms) ws.subscribe(room);
    },
    message(ws, message) {
      const text = typeof message === "string" ? message : message.toString();
      const bar = text.indexOf("|");
      if (bar > 0) server.publish(text.slice(0, bar), text.slice(bar + 1));
    },
  },
});
console.log(`bun relay listening on ${server.hostname}:${server.port}`);
