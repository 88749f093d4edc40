/**
 * Synthetic CDRs for the demo and the benchmarks: deterministic from a seed, accounts
 * drawn with Zipf-like skew (a few busy tenants, a long tail), destinations drawn from
 * a deck's prefixes, some surcharges. Not for tests of rules: those write CDRs by hand.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { KafkaProducer } from "../adapters/kafka/types.js";
import type { Cdr, Direction, Surcharge } from "../core/cdr.js";

/** A CDR as a switch sends it: the wire fields, surcharges optional. */
export type RawCdr = Omit<Cdr, "answeredAtMicros" | "surcharges"> & { surcharges?: Surcharge[] };

export interface CdrGeneratorOptions {
  seed?: number;
  accounts: readonly string[];
  /** Zipf exponent for account popularity: 0 uniform, ~1 realistic skew. */
  skew?: number;
  /** Prefixes to call, by direction; each CDR's `to` is a prefix plus random digits. */
  prefixes: Record<Direction, readonly string[]>;
  /** Share of CDRs to numbers no deck row covers (exercise no_rate). */
  unratedShare?: number;
  surchargeShare?: number;
  features?: readonly string[];
  /** answered_at of the first CDR, ms since the epoch; later ones advance by ~10 ms. */
  startMs?: number;
  idPrefix?: string;
}

/** mulberry32: tiny, fast, good enough for synthetic traffic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws indexes 0…n−1 with probability ∝ 1/(i+1)^s. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cumulative[i] = total += 1 / Math.pow(i + 1, s);
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export function* generateCdrs(count: number, options: CdrGeneratorOptions): Generator<RawCdr> {
  const random = prng(options.seed ?? 1);
  const account = zipfSampler(options.accounts.length, options.skew ?? 1, random);
  const features = options.features ?? ["recording", "barging", "conference", "sip_phone"];
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const digits = (n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += Math.floor(random() * 10);
    return s;
  };
  let at = options.startMs ?? Date.parse("2026-11-27T10:00:00Z");
  for (let i = 0; i < count; i++) {
    const direction: Direction = random() < 0.8 ? "outbound" : "inbound";
    const unrated = random() < (options.unratedShare ?? 0);
    const prefix = unrated ? "999" : pick(options.prefixes[direction]);
    // Numbers of about 11 digits, as E.164 numbers mostly are, never more than 15.
    const to = `+${prefix}${digits(Math.min(15 - prefix.length, Math.max(1, 11 - prefix.length)))}`;
    // Mostly short calls, some long ones, a few unanswered legs.
    const roll = random();
    const duration =
      roll < 0.05 ? 0 : roll < 0.9 ? 1 + Math.floor(random() * 300) : Math.floor(random() * 7200);
    const cdr: RawCdr = {
      cdr_id: `${options.idPrefix ?? "g"}-${i}`,
      account_id: options.accounts[account()]!,
      direction,
      from: `+1415${digits(7)}`,
      to,
      answered_at: new Date(at).toISOString().replace(".000Z", "Z"),
      duration_seconds: duration,
    };
    if (random() < (options.surchargeShare ?? 0.1)) {
      cdr.surcharges = [{ feature: pick(features), seconds: duration }];
    }
    at += Math.floor(random() * 20);
    yield cdr;
  }
}

/**
 * Offers CDRs to a topic at a steady rate until `until()` is true: each tick sends what
 * is due (at most 5,000 at once), so a slow send is caught up, not dropped. Returns how
 * many were sent.
 */
export async function offerAtRate(o: {
  producer: KafkaProducer;
  topic: string;
  cdrs: Iterator<RawCdr>;
  perSecond: number;
  until: () => boolean;
  onTick?: (sent: number) => unknown;
  tickMs?: number;
}): Promise<number> {
  const started = Date.now();
  let sent = 0;
  while (!o.until()) {
    const due = Math.floor(((Date.now() - started) / 1000) * o.perSecond) - sent;
    if (due > 0) {
      const batch: RawCdr[] = [];
      for (let i = 0; i < Math.min(due, 5_000); i++) batch.push(o.cdrs.next().value as RawCdr);
      await o.producer.send(
        o.topic,
        batch.map((c) => ({ key: c.account_id, value: JSON.stringify(c) })),
      );
      sent += batch.length;
    }
    await o.onTick?.(sent);
    await sleep(o.tickMs ?? 100);
  }
  return sent;
}
