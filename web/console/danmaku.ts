// The console's client of the danmaku service, typed by the generated code of
// proto/danmaku/v1 (//web/gen:danmaku).
import { create } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";

import {
  ChatRequestSchema,
  DanmakuService,
  Outcome,
  type CommentAck,
} from "../gen/proto/danmaku/v1/danmaku_pb.js";
import { formatCount } from "../lib/format.js";

export type DanmakuClient = Client<typeof DanmakuService>;

export function danmakuClient(transport: Transport): DanmakuClient {
  return createClient(DanmakuService, transport);
}

/** The first message of a Chat: join a room, resuming after a comment if given. */
export function joinRequest(roomId: string, resumeAfter = "") {
  return create(ChatRequestSchema, {
    message: { case: "join", value: { roomId, resumeAfter } },
  });
}

/** A line of the console's log for an acknowledged comment. */
export function describeAck(ack: CommentAck): string {
  switch (ack.outcome) {
    case Outcome.ACCEPTED:
      return `${ack.clientId}: posted as #${formatCount(Number(ack.commentId))}`;
    case Outcome.QUEUED:
    case Outcome.DROPPED:
    case Outcome.REJECTED:
      return `${ack.clientId}: ${Outcome[ack.outcome].toLowerCase()} (${ack.reason})`;
    default:
      return `${ack.clientId}: unknown outcome ${ack.outcome}`;
  }
}
