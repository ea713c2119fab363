// The console's back end: its own HTTP endpoints (config, dev sign-in), its
// ConsoleService (status), and the platform's services, which the browser calls
// over Connect through the console (vanguard transcodes to gRPC), as the
// signed-in user.

import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

import { ConfigService } from "../../gen/proto/config/v1/config_pb.js";
import { ConsoleService } from "../../gen/proto/console/v1/console_pb.js";
import { DanmakuService } from "../../gen/proto/danmaku/v1/danmaku_pb.js";
import { OrchestratorService } from "../../gen/proto/orchestrator/v1/orchestrator_pb.js";
import { UploadService } from "../../gen/proto/upload/v1/upload_pb.js";

/** ConsoleConfig is what GET /api/config says; every field has a default. */
export interface ConsoleConfig {
  /** Where the services answer Connect and gRPC-Web calls (default: the console itself). */
  rpc_base: string;
  /** The base URL of the published outputs (the edge): master playlist URL = media_base + key. */
  media_base: string;
  /** The upload part size in bytes. */
  part_size: number;
}

export let config: ConsoleConfig = { rpc_base: location.origin, media_base: "/media/", part_size: 256 << 10 };

/** loadConfig reads the console's config endpoint; a console without one keeps the defaults. */
export async function loadConfig(): Promise<string | undefined> {
  try {
    const resp = await fetch("api/config", { headers: { accept: "application/json" } });
    if (resp.status === 404) return undefined; // a console with nothing to say: the defaults
    if (!resp.ok) return `GET api/config: ${resp.status} ${resp.statusText}: using defaults`;
    config = { ...config, ...(await resp.json()) };
  } catch (e) {
    return `GET api/config: ${(e as Error).message}: using defaults`;
  }
  return undefined;
}

/** Session is the signed-in user, as the token the console minted says. */
export interface Session {
  token: string;
  user: string;
  tier: string;
  admin: boolean;
  /** Milliseconds since the epoch. */
  expires: number;
}

const sessionKey = "monoreel.session";

/** session returns the stored session, or undefined when signed out or expired. */
export function session(): Session | undefined {
  const raw = localStorage.getItem(sessionKey);
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as Session;
    if (s.expires > Date.now()) return s;
  } catch {
    /* a broken entry is a signed-out user */
  }
  localStorage.removeItem(sessionKey);
  return undefined;
}

/** claims reads a JWT's payload (unverified: the services verify it). */
export function claims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) throw new Error("the console's token is not a JWT");
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))) as Record<string, unknown>;
}

/** signIn asks the console for a token for user; the token sets the tier. */
export async function signIn(user: string): Promise<Session> {
  const resp = await fetch("api/signin", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ user }),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`sign-in refused: ${resp.status} ${resp.statusText}: ${errorText(text)}`);
  const body = JSON.parse(text) as { token?: string };
  if (!body.token) throw new Error(`sign-in: the console answered no token: ${text.slice(0, 200)}`);
  const c = claims(body.token);
  const s: Session = {
    token: body.token,
    user: String(c.sub ?? user),
    tier: String(c.tier || "normal"),
    admin: Array.isArray(c.roles) && c.roles.includes("admin"),
    expires: typeof c.exp === "number" ? c.exp * 1000 : Date.now() + 3600e3,
  };
  localStorage.setItem(sessionKey, JSON.stringify(s));
  return s;
}

export function signOut(): void {
  localStorage.removeItem(sessionKey);
}

/** errorText is the message of a JSON error body ({"error": ...}) or the text itself. */
function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    if (typeof j.error === "string") return j.error;
    if (typeof j.message === "string") return j.message;
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 300) || "(empty answer)";
}

const bearer: Interceptor = (next) => async (req) => {
  const s = session();
  if (s) req.header.set("authorization", `Bearer ${s.token}`);
  return next(req);
};

function transport() {
  return createConnectTransport({ baseUrl: config.rpc_base, useBinaryFormat: true, interceptors: [bearer] });
}

/** The services' clients, made once the config is loaded. */
export interface Clients {
  upload: Client<typeof UploadService>;
  orchestrator: Client<typeof OrchestratorService>;
  danmaku: Client<typeof DanmakuService>;
  config: Client<typeof ConfigService>;
  console: Client<typeof ConsoleService>;
}

let made: Clients | undefined;

export function clients(): Clients {
  if (!made) {
    const t = transport();
    made = {
      upload: createClient(UploadService, t),
      orchestrator: createClient(OrchestratorService, t),
      danmaku: createClient(DanmakuService, t),
      config: createClient(ConfigService, t),
      console: createClient(ConsoleService, t),
    };
  }
  return made;
}
