// The web console's entry point (bundled by //web/console:bundle).
import { createConnectTransport } from "@connectrpc/connect-web";

import { danmakuClient, describeAck, joinRequest } from "./danmaku.js";

const transport = createConnectTransport({ baseUrl: window.location.origin });
const client = danmakuClient(transport);

export async function watchRoom(roomId: string, log: (line: string) => void): Promise<void> {
  async function* requests() {
    yield joinRequest(roomId);
  }
  for await (const res of client.chat(requests())) {
    if (res.message.case === "ack") {
      log(describeAck(res.message.value));
    } else if (res.message.case === "comment") {
      log(`${res.message.value.userId}: ${res.message.value.text}`);
    }
  }
}
