/**
 * Open-loop load of call sessions for bench:api: at a fixed offered rate, each arrival
 * is one call — POST …/calls (start) then POST …/calls/{id}/end — and the latency of
 * each request is recorded on its own, so the start's p99 can be read apart from the
 * end's. The same runner offers GET /healthz pairs as the baseline of the HTTP stack
 * and of this client. Arrivals never wait for earlier ones (no coordinated omission),
 * up to `maxInFlight`; past that an arrival is counted as dropped.
 */
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

export interface RequestSpec {
  method: "GET" | "POST";
  path: string;
  body?: object;
}

export interface PairLoad {
  /** Arrivals offered per second (each is two requests). */
  offered: number;
  achieved: number;
  first: Latency;
  second: Latency;
  errors: number;
  non2xx: number;
  dropped: number;
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
}

export async function offerPairs(o: {
  port: number;
  key: string;
  perSecond: number;
  seconds: number;
  /** The two requests of arrival i. */
  pair: (i: number) => [RequestSpec, RequestSpec];
  maxInFlight?: number;
}): Promise<PairLoad> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const firsts: number[] = [];
  const seconds: number[] = [];
  let errors = 0;
  let non2xx = 0;
  let dropped = 0;
  let inFlight = 0;
  const send = (spec: RequestSpec) =>
    new Promise<{ status: number; ms: number }>((resolve, reject) => {
      const t0 = performance.now();
      const body = spec.body ? JSON.stringify(spec.body) : undefined;
      const req = http.request(
        {
          host: "127.0.0.1",
          port: o.port,
          method: spec.method,
          path: spec.path,
          agent,
          headers: {
            authorization: `Bearer ${o.key}`,
            ...(body && { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const arrival = async (i: number) => {
    inFlight++;
    try {
      const [a, b] = o.pair(i);
      const first = await send(a);
      firsts.push(first.ms);
      if (first.status !== 200) non2xx++;
      const second = await send(b);
      seconds.push(second.ms);
      if (second.status !== 200) non2xx++;
    } catch {
      errors++;
    } finally {
      inFlight--;
    }
  };
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let offered = 0;
  while (performance.now() - started < o.seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * o.perSecond) - offered;
    for (let i = 0; i < due; i++) {
      offered++;
      if (inFlight >= (o.maxInFlight ?? 1_000)) dropped++;
      else pending.push(arrival(offered));
    }
    await sleep(2);
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    offered: o.perSecond,
    achieved: Math.round(seconds.length / elapsed),
    first: latency(firsts),
    second: latency(seconds),
    errors,
    non2xx,
    dropped,
  };
}

function latency(ms: number[]): Latency {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { p50: at(0.5), p99: at(0.99), max: round(sorted.at(-1) ?? NaN) };
}

const round = (x: number) => Math.round(x * 10) / 10;
