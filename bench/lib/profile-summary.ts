/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by file,
 * the heaviest first.  tsx bench/lib/profile-summary.ts <file.cpuprofile> [top]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-summary <file.cpuprofile> [top]");
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: ProfileNode[] };
const total = profile.nodes.reduce((n, node) => n + node.hitCount, 0);
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\/.*?\/(node_modules|dist|src)\//, "$1/") || "(native)";
  const fn = `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + node.hitCount);
  const module = where.startsWith("node_modules/")
    ? where
        .split("/")
        .slice(0, where.split("/")[1]!.startsWith("@") ? 3 : 2)
        .join("/")
    : where;
  byFile.set(module, (byFile.get(module) ?? 0) + node.hitCount);
}
const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, hits] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * hits) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
};
print("self time by file or package", byFile);
print("self time by function", byFunction);
