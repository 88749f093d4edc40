/**
 * Operations endpoints on HTTP_PORT: /healthz (the process is alive), /readyz (every
 * dependency answers and a rate version is loaded), /metrics (Prometheus).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

export type ReadinessCheck = () => Promise<void>;

export interface OpsServerOptions {
  port: number;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  /** Further routes (the HTTP API), tried before the 404. */
  routes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

const CHECK_TIMEOUT_MS = 2_000;

export async function startOpsServer(options: OpsServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    void handle(options, req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: (err as Error).message });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "0.0.0.0", resolve);
  });
  return server;
}

async function handle(options: OpsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method === "GET" && path === "/healthz") return json(res, 200, { status: "ok" });
  if (req.method === "GET" && path === "/metrics") {
    res.writeHead(200, { "content-type": options.registry.contentType });
    res.end(await options.registry.metrics());
    return;
  }
  if (req.method === "GET" && path === "/readyz") {
    const results = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => {
        try {
          await withTimeout(check());
          return [name, "ok"] as const;
        } catch (err) {
          return [name, (err as Error).message] as const;
        }
      }),
    );
    const ready = results.every(([, r]) => r === "ok");
    return json(res, ready ? 200 : 503, { ready, checks: Object.fromEntries(results) });
  }
  if (options.routes && (await options.routes(req, res))) return;
  json(res, 404, { error: `no route ${req.method} ${path}` });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function withTimeout(promise: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
