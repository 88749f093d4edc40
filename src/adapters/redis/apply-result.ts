/**
 * The one codec of apply-2n.lua's result string (see the script's header): what the
 * script returns per entry and stores in the account's pending hash. `parse` reads
 * what the script wrote, `format` writes what the script would (the tests' in-memory
 * store and the property test of the script compare through it), and `toApplied` turns
 * a result into the write path's vocabulary.
 *
 *   applied   "<seq>,<before>,<after>[,1][;<seq>,<before>,<after> ...]|<event>[;<event> ...]"
 *             event: "<type>,<balance>,<amount or empty>,<cause ref>"
 *             cause ref: n (the n-th booked entry: 0 the entry itself, n ≥ 1 its n-th
 *             reload), "m<YYYY-MM>" (an online cap's month), "o<YYYY-MM>" (an offline cap's)
 *   stored    the same, then "|<Redis time in ms>" (a replayed result comes back stored)
 *   refused   "!range" or "!floor,<balance>,<held>"
 */
import type {
  Applied,
  BalanceEventDraft,
  BalanceEventType,
  BookedEntry,
  EntryRequest,
  Refused,
} from "../../balances/types.js";

export interface BookedTriple {
  seq: bigint;
  beforeMicros: bigint;
  afterMicros: bigint;
}

export type CauseRef = { entry: number } | { capMonth: string } | { offlineCapMonth: string };

export interface EncodedEvent {
  type: BalanceEventType;
  balanceMicros: bigint;
  amountMicros: bigint | null;
  cause: CauseRef;
}

export type ApplyResult =
  | {
      outcome: "applied";
      /** The entry itself first, then each offline reload it set off. */
      booked: BookedTriple[];
      /** The entry settled an open call session (SPEC §8). */
      settledCall: boolean;
      events: EncodedEvent[];
      /** When Redis applied it (ms), for a result read back from the pending hash. */
      appliedAtMs?: number;
    }
  | { outcome: "refused"; refused: "range" }
  | { outcome: "refused"; refused: "floor"; balanceMicros: bigint; heldMicros: bigint };

const INTEGER = /^-?\d+$/;

function integer(text: string | undefined, what: string, whole: string): bigint {
  if (text === undefined || !INTEGER.test(text)) {
    throw new Error(
      `apply result ${JSON.stringify(whole)}: ${what} ${JSON.stringify(text)} is not an integer`,
    );
  }
  return BigInt(text);
}

export function parseApplyResult(text: string): ApplyResult {
  if (text === "!range") return { outcome: "refused", refused: "range" };
  if (text.startsWith("!floor,")) {
    const [balance, held] = text.slice("!floor,".length).split(",");
    return {
      outcome: "refused",
      refused: "floor",
      balanceMicros: integer(balance, "balance", text),
      // Results written before holds existed carry no <held>.
      heldMicros: held === undefined ? 0n : integer(held, "held", text),
    };
  }
  const [booked, events, stamp, ...extra] = text.split("|");
  if (events === undefined || extra.length > 0) {
    throw new Error(`apply result ${JSON.stringify(text)}: expected "<booked>|<events>[|<ms>]"`);
  }
  let settledCall = false;
  const triples = booked!.split(";").map((triple, n) => {
    const [seq, before, after, settled, ...rest] = triple.split(",");
    if (rest.length > 0 || (settled !== undefined && (settled !== "1" || n > 0))) {
      throw new Error(`apply result ${JSON.stringify(text)}: bad booked entry ${JSON.stringify(triple)}`);
    }
    if (settled === "1") settledCall = true;
    return {
      seq: integer(seq, "seq", text),
      beforeMicros: integer(before, "before", text),
      afterMicros: integer(after, "after", text),
    };
  });
  return {
    outcome: "applied",
    booked: triples,
    settledCall,
    events: events === "" ? [] : events.split(";").map((event) => parseEvent(event, triples.length, text)),
    ...(stamp === undefined ? {} : { appliedAtMs: Number(integer(stamp, "time", text)) }),
  };
}

function parseEvent(event: string, booked: number, whole: string): EncodedEvent {
  const [type, balance, amount, ref, ...rest] = event.split(",");
  if (type === undefined || ref === undefined || rest.length > 0) {
    throw new Error(`apply result ${JSON.stringify(whole)}: bad event ${JSON.stringify(event)}`);
  }
  let cause: CauseRef;
  if (ref.startsWith("m")) cause = { capMonth: ref.slice(1) };
  else if (ref.startsWith("o")) cause = { offlineCapMonth: ref.slice(1) };
  else {
    const entry = Number(integer(ref, "cause ref", whole));
    if (entry < 0 || entry >= booked) {
      throw new Error(
        `apply result ${JSON.stringify(whole)}: event ${JSON.stringify(event)} names no booked entry`,
      );
    }
    cause = { entry };
  }
  return {
    type: type as BalanceEventType,
    balanceMicros: integer(balance, "event balance", whole),
    amountMicros: amount === "" ? null : integer(amount, "event amount", whole),
    cause,
  };
}

/** The string apply-2n.lua returns for this result (with "|<ms>" when it carries a time). */
export function formatApplyResult(result: ApplyResult): string {
  if (result.outcome === "refused") {
    return result.refused === "range" ? "!range" : `!floor,${result.balanceMicros},${result.heldMicros}`;
  }
  const booked = result.booked
    .map((b, n) => `${b.seq},${b.beforeMicros},${b.afterMicros}${n === 0 && result.settledCall ? ",1" : ""}`)
    .join(";");
  const events = result.events
    .map((e) => `${e.type},${e.balanceMicros},${e.amountMicros ?? ""},${formatCause(e.cause)}`)
    .join(";");
  return `${booked}|${events}${result.appliedAtMs === undefined ? "" : `|${result.appliedAtMs}`}`;
}

function formatCause(cause: CauseRef): string {
  if ("entry" in cause) return String(cause.entry);
  if ("capMonth" in cause) return `m${cause.capMonth}`;
  return `o${cause.offlineCapMonth}`;
}

/** A result in the write path's vocabulary: the booked entries with their keys, the events with their causes. */
export function toApplied(accountId: string, request: EntryRequest, result: ApplyResult): Applied | Refused {
  if (result.outcome === "refused") {
    return result.refused === "range"
      ? { request, refused: "range" }
      : { request, refused: "floor", balanceMicros: result.balanceMicros, heldMicros: result.heldMicros };
  }
  const entries: BookedEntry[] = result.booked.map((b, n) => {
    // A reload's key derives from the request's key, unique per account, never from its
    // cause (a call "X" and an adjustment referenced "X" set off two reloads).
    const key = n === 0 ? request.key : `reload:${request.key}:${n}`;
    return {
      accountId,
      seq: b.seq,
      key,
      kind: n === 0 ? request.kind : "offline_reload",
      amountMicros: b.afterMicros - b.beforeMicros,
      beforeMicros: b.beforeMicros,
      afterMicros: b.afterMicros,
      cause: n === 0 ? request.cause : key,
    };
  });
  // An event's cause as consumers read it, and its origin, unique per account, for its id.
  const causeOf = (ref: CauseRef): { cause: string; origin: string } => {
    if ("capMonth" in ref) return { cause: ref.capMonth, origin: ref.capMonth };
    if ("offlineCapMonth" in ref) {
      return { cause: `offline:${ref.offlineCapMonth}`, origin: `offline:${ref.offlineCapMonth}` };
    }
    const entry = entries[ref.entry]!;
    return { cause: entry.cause, origin: entry.key };
  };
  const announced: BalanceEventDraft[] = request.announces
    ? [
        {
          type: request.announces,
          accountId,
          balanceMicros: entries[0]!.afterMicros,
          amountMicros: request.amountMicros,
          cause: request.cause,
          origin: request.key,
        },
      ]
    : [];
  return {
    request,
    entries,
    ...(result.settledCall ? { settledCall: true } : {}),
    events: [
      ...announced,
      ...result.events.map((e) => ({
        type: e.type,
        accountId,
        balanceMicros: e.balanceMicros,
        amountMicros: e.amountMicros,
        ...causeOf(e.cause),
      })),
    ],
  };
}
