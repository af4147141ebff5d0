// Join a channel on the simulator with the official Phoenix JS client and wait for a push.
// usage: node --experimental-websocket phoenix_client.mjs ws://127.0.0.1:PORT/socket IDENT
// Prints one JSON line per step: {"step":"joined",...}, {"step":"push",...}; exits 0 on success.
import { Socket } from "phoenix";

const [url, identifier] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));
const socket = new Socket(url, {
  params: { identifier },
  heartbeatIntervalMs: 200,
  reconnectAfterMs: () => 100000,
});
socket.onError((e) => say({ step: "socket_error", detail: String(e && e.message) }));
socket.connect();
const channel = socket.channel("device", { nerves_fw_uuid: "js-uuid", device_api_version: "2.0.0" });
channel.on("identify", (payload) => {
  say({ step: "push", event: "identify", payload });
  channel.push("status_update", { status: "js-ok" })
    .receive("ok", () => {})
    .receive("timeout", () => {});
  setTimeout(() => { socket.disconnect(); process.exit(0); }, 300);
});
channel.join()
  .receive("ok", (resp) => say({ step: "joined", response: resp }))
  .receive("error", (resp) => { say({ step: "join_error", response: resp }); process.exit(2); });
setTimeout(() => { say({ step: "timeout" }); process.exit(3); }, 10000);
