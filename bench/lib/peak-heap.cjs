// Preloaded (node --require) into a command a bench measures: samples the V8 heap in use
// every 20 ms and prints the peak on exit, next to the peak RSS Node itself records.
let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().heapUsed));
setInterval(sample, 20).unref();
process.on("exit", () => {
  sample();
  process.stderr.write(`bench-peak-heap-bytes ${peak} bench-max-rss-kb ${process.resourceUsage().maxRSS}\n`);
});
