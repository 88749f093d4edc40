/** How a batch's accounts are split into Lua script calls. */
import { describe, expect, it } from "vitest";
import { scriptCalls } from "../../src/adapters/redis/balance-store.js";

const account = (id: string, entries: number): [string, number[]] => [
  id,
  Array.from({ length: entries }, (_, i) => i),
];

describe("scriptCalls", () => {
  it("puts accounts together up to 1,000 entries a call, keeping each account's entries whole", () => {
    const accounts = [
      account("a", 600),
      account("b", 500),
      account("c", 10),
      account("d", 2_500),
      account("e", 1),
    ];
    const calls = scriptCalls(accounts, false);
    expect(calls.map((call) => call.map(([id]) => id))).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    expect(calls.flat()).toEqual(accounts); // every account once, in order
  });

  it("gives each account a call of its own in a cluster (a call's keys share one slot)", () => {
    const accounts = [account("a", 1), account("b", 2), account("c", 3)];
    expect(scriptCalls(accounts, true)).toEqual(accounts.map((a) => [a]));
  });

  it("makes no call for no accounts", () => {
    expect(scriptCalls([], false)).toEqual([]);
  });
});
