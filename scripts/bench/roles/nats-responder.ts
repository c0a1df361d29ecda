/**
 * Answers NATS requests on `--subject` with the parsed and re-encoded JSON input,
 * the same work raw-worker.ts does for an invocation.
 */
import { connect } from "nats";
import { exitOnSignal, readFlags, report } from "./args.ts";

const flags = readFlags();
const nc = await connect({ servers: flags.text("url") });
const decoder = new TextDecoder();
const encoder = new TextEncoder();
nc.subscribe(flags.text("subject"), {
  callback: (error, message) => {
    if (error) return;
    message.respond(encoder.encode(JSON.stringify(JSON.parse(decoder.decode(message.data)))));
  },
});
await nc.flush();
report({ ready: true });
exitOnSignal(() => nc.close());
