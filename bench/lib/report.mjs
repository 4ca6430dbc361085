/**
 * Turning runs into verdicts and a table. A check compares one run with its peer
 * (`ratio`: server/peer of `metric`, with a `min` or `max` target) or with an absolute limit.
 */
import { cpus, totalmem, type as osType, release } from 'node:os';

const MiB = 1024 * 1024;

/** Evaluate every check against the runs (keyed by `${scenario}/${server}`). */
export function evaluate(checks, runs) {
  const byKey = new Map(runs.map((r) => [`${r.scenario}/${r.server}`, r]));
  return checks.map((c) => {
    const run = byKey.get(`${c.scenario}/${c.server}`);
    const peer = c.peer ? byKey.get(`${c.scenario}/${c.peer}`) : undefined;
    let value;
    if (run && !run.failed && c.peer && peer && !peer.failed) value = run[c.metric] / peer[c.metric];
    else if (run && !run.failed && !c.peer) value = run[c.metric];
    const ok = value !== undefined && Number.isFinite(value) && (c.min === undefined || value >= c.min) && (c.max === undefined || value <= c.max);
    const target = `${c.min !== undefined ? '≥' : '≤'} ${c.min ?? c.max}${c.unit ?? ''}`;
    // SKIP: the run or its peer was not part of this run (BENCH_SERVERS), or the peer is not installed.
    const verdict = value === undefined ? (!run || (c.peer && !peer) ? 'SKIP' : 'ERROR') : ok ? 'PASS' : 'MISS';
    return { ...c, value, target, verdict };
  });
}

const fmt = (n, digits = 0) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));

/** The table: one line per run, a continuation line for a run's second check. */
export function table(runs, verdicts) {
  const header = ['scenario', 'server', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'peak RSS MiB', 'CPU µs/req', 'ratio vs peer', 'target', 'result'];
  const lines = [];
  for (const r of runs) {
    const mine = verdicts.filter((v) => v.scenario === r.scenario && v.server === r.server);
    const figures = figuresOf(r);
    const first = mine[0];
    lines.push([r.scenario, r.server, ...figures, ...checkCells(first)]);
    for (const extra of mine.slice(1)) lines.push(['', '', '', '', '', '', '', '', ...checkCells(extra)]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const row = (cells) => cells.map((c, i) => (i >= 2 && i <= 7 ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ');
  return [row(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(row)].join('\n');
}

/** req/s, MB/s, p50, p99, RSS, server CPU per request; latencies only when requests completed. */
function figuresOf(r) {
  if (r.failed) return ['failed', '', '', '', '', ''];
  const done = r.requests > 0;
  const cpu = r.cpuUsPerRequest;
  return [fmt(r.rps), fmt(r.mbps, 1), done ? fmt(r.p50ms, 2) : '–', done ? fmt(r.p99ms, 2) : '–', fmt(r.peakRssBytes / MiB, 0), fmt(cpu, cpu < 100 ? 1 : 0)];
}

function checkCells(v) {
  if (!v) return ['', '', ''];
  const label = v.peer ? `${fmt(v.value, 2)} vs ${v.peer}` : `${fmt(v.value, v.unit ? 0 : 2)}${v.unit ?? ''}`;
  return [label, v.target, v.verdict];
}

/** Markdown version of the same table, for BENCHMARKS.md. */
export function markdownTable(runs, verdicts) {
  const out = [
    '| scenario | server | req/s | MB/s | p50 ms | p99 ms | peak RSS MiB | CPU µs/req | ratio vs peer | target | result |',
    '|---|---|--:|--:|--:|--:|--:|--:|---|---|---|',
  ];
  for (const r of runs) {
    const mine = verdicts.filter((v) => v.scenario === r.scenario && v.server === r.server);
    const figures = figuresOf(r);
    const cells = (v, lead) => [...lead, ...checkCells(v)];
    out.push(`| ${cells(mine[0], [r.scenario, r.server, ...figures]).join(' | ')} |`);
    for (const extra of mine.slice(1)) out.push(`| ${cells(extra, ['', '', '', '', '', '', '', '']).join(' | ')} |`);
  }
  return out.join('\n');
}

export function machineInfo(extra) {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${osType()} ${release()}`,
    node: process.version,
    date: new Date().toISOString(),
    ...extra,
  };
}
