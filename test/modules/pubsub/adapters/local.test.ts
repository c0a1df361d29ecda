import { LocalPubSubAdapter } from "../../../../src/modules/pubsub/index.ts";
import { createLogger } from "../../../../src/telemetry/logger.ts";
import { runPubSubAdapterContract } from "../adapter-contract.ts";

runPubSubAdapterContract("local", async () => {
  const adapter = new LocalPubSubAdapter(createLogger("pubsub-test"));
  await adapter.open();
  return { adapter, cleanup: () => adapter.close() };
});
