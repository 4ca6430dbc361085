/**
 * `node bench/cpu-top.mjs FILE.cpuprofile [N] [FROM_S TO_S]`: where a `node --cpu-prof` profile
 * spent its time (optionally only between FROM_S and TO_S seconds after the profile began).
 * Prints the top N functions by self time, self time by area (a package in node_modules, a
 * Node internal module, a recproxy file, GC, idle), and the inclusive time of recproxy's own
 * functions (dist/src, dist/adapters), all as a share of the non-idle samples.
 */
import { readFileSync } from 'node:fs';

const [file, n = '25', from = '0', to = 'Infinity'] = process.argv.slice(2);
process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
if (!file) {
  process.stderr.write('usage: node bench/cpu-top.mjs FILE.cpuprofile [N] [FROM_S TO_S]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const top = Number(n);

const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

// Self time per node from samples and time deltas (µs), within the window.
const self = new Map();
let at = 0;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i] ?? 0;
  if (at < Number(from) * 1e6 || at > Number(to) * 1e6) return;
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

function area(frame) {
  const { url, functionName } = frame;
  if (!url) return `(${functionName || 'native'})`.replace(/^\(\((.*)\)\)$/, '($1)');
  if (url.startsWith('node:')) return url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /\/dist\/(.+)$/.exec(url);
  return own ? own[1] : url.replace(/^file:\/\//, '');
}
const label = (f) => `${f.functionName || '(anonymous)'} ${area(f)}${f.url ? `:${f.lineNumber + 1}` : ''}`;

let busy = 0;
const byFunction = new Map();
const byArea = new Map();
for (const [id, us] of self) {
  const frame = nodes.get(id).callFrame;
  if (frame.functionName === '(idle)') continue;
  busy += us;
  byFunction.set(label(frame), (byFunction.get(label(frame)) ?? 0) + us);
  byArea.set(area(frame), (byArea.get(area(frame)) ?? 0) + us);
}

// Inclusive time of recproxy's own functions: each sample counts once per distinct function on its stack.
const inclusive = new Map();
for (const [id, us] of self) {
  if (nodes.get(id).callFrame.functionName === '(idle)') continue;
  const seen = new Set();
  for (let node = id; node !== undefined; node = parent.get(node)) {
    const frame = nodes.get(node).callFrame;
    if (!/\/dist\/(src|adapters)\//.test(frame.url)) continue;
    const key = label(frame);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}

const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
const print = (title, map) => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${key}\n`);
};
const wall = profile.endTime - profile.startTime;
process.stdout.write(`${file}: ${(wall / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (not idle)\n`);
print('self time by function (share of busy time)', byFunction);
print('self time by area', byArea);
print("inclusive time of recproxy's functions", inclusive);
