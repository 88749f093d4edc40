/** A small line chart as SVG text, two y axes: enough for BENCHMARKS.md, no dependency. */
export interface Series {
  name: string;
  points: [number, number][];
  axis: "left" | "right";
}

const COLORS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c"];

export function lineChart(o: { title: string; xLabel: string; series: Series[]; notes?: string[] }): string {
  const W = 720;
  const H = 400;
  const pad = { l: 70, r: 70, t: 40, b: 60 };
  const xs = o.series.flatMap((s) => s.points.map(([x]) => x));
  const xMax = Math.max(...xs) * 1.05 || 1;
  const yMax = (axis: "left" | "right") =>
    Math.max(1, ...o.series.filter((s) => s.axis === axis).flatMap((s) => s.points.map(([, y]) => y))) * 1.1;
  const maxes = { left: yMax("left"), right: yMax("right") };
  const px = (x: number) => pad.l + (x / xMax) * (W - pad.l - pad.r);
  const py = (y: number, axis: "left" | "right") => H - pad.b - (y / maxes[axis]) * (H - pad.t - pad.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escape(o.title)}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="black"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="black"/>`,
    `<line x1="${W - pad.r}" y1="${pad.t}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 25}" text-anchor="middle">${escape(o.xLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const f = i / 4;
    parts.push(
      `<text x="${px(xMax * f)}" y="${H - pad.b + 15}" text-anchor="middle">${Math.round(xMax * f)}</text>`,
    );
    parts.push(
      `<text x="${pad.l - 5}" y="${py(maxes.left * f, "left") + 4}" text-anchor="end">${Math.round(maxes.left * f)}</text>`,
    );
    parts.push(
      `<text x="${W - pad.r + 5}" y="${py(maxes.right * f, "right") + 4}">${Math.round(maxes.right * f)}</text>`,
    );
  }
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const d = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y, s.axis).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${d}"/>`);
    for (const [x, y] of s.points)
      parts.push(`<circle cx="${px(x)}" cy="${py(y, s.axis)}" r="3" fill="${color}"/>`);
    parts.push(
      `<text x="${pad.l + 10}" y="${pad.t + 15 + i * 15}" fill="${color}">${escape(s.name)} (${s.axis} axis)</text>`,
    );
  });
  (o.notes ?? []).forEach((n, i) =>
    parts.push(`<text x="${pad.l + 10}" y="${pad.t + 15 + (o.series.length + i) * 15}">${escape(n)}</text>`),
  );
  parts.push("</svg>");
  return parts.join("\n");
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
