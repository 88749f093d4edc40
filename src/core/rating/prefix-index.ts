/**
 * Longest-prefix lookup with effective dating. A digit trie in one Int32Array (ten
 * child slots per node) gives a lookup in at most 15 array reads plus a binary search
 * per candidate, with no string slicing or hashing on the hot path; a 50,000-prefix
 * deck fits in a few megabytes.
 */
export interface Dated {
  effectiveFromMicros: number;
}

const NO_CHILD = 0; // node 0 is the root, never anyone's child
const MAX_DEPTH = 15;
const CODE_0 = 48;

export class PrefixIndex<T extends Dated> {
  private children = new Int32Array(10 * 1024);
  private nodeCount = 1;
  /** Per node: the rows of that exact prefix, by effective_from ascending. */
  private readonly rows: (T[] | undefined)[] = [undefined];
  private readonly candidates = new Int32Array(MAX_DEPTH + 1);

  constructor(entries: Iterable<{ prefix: string; row: T }>) {
    for (const { prefix, row } of entries) this.insert(prefix, row);
    for (const list of this.rows) list?.sort((a, b) => a.effectiveFromMicros - b.effectiveFromMicros);
  }

  private insert(prefix: string, row: T): void {
    let node = 0;
    for (let i = 0; i < prefix.length; i++) {
      const slot = node * 10 + (prefix.charCodeAt(i) - CODE_0);
      let child = this.children[slot]!;
      if (child === NO_CHILD) {
        child = this.newNode();
        this.children[slot] = child;
      }
      node = child;
    }
    (this.rows[node] ??= []).push(row);
  }

  private newNode(): number {
    if ((this.nodeCount + 1) * 10 > this.children.length) {
      const grown = new Int32Array(this.children.length * 2);
      grown.set(this.children);
      this.children = grown;
    }
    this.rows.push(undefined);
    return this.nodeCount++;
  }

  /**
   * The row of the longest prefix of `digits[start…]` that has a row in force at `at`:
   * a longer prefix whose rows all start later does not hide a shorter one in force.
   */
  lookup(digits: string, start: number, at: number): T | undefined {
    let depth = 0;
    let node = 0;
    for (let i = start; i < digits.length && depth < MAX_DEPTH; i++) {
      const digit = digits.charCodeAt(i) - CODE_0;
      if (digit < 0 || digit > 9) break;
      node = this.children[node * 10 + digit]!;
      if (node === NO_CHILD) break;
      if (this.rows[node] !== undefined) this.candidates[depth++] = node;
    }
    while (depth > 0) {
      const row = inForce(this.rows[this.candidates[--depth]!]!, at);
      if (row !== undefined) return row;
    }
    return undefined;
  }
}

/** The row with the latest effective_from ≤ at, in a list sorted ascending. */
export function inForce<T extends Dated>(list: readonly T[], at: number): T | undefined {
  let lo = 0;
  let hi = list.length; // answer is list[lo - 1] after the search
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.effectiveFromMicros <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? list[lo - 1] : undefined;
}
