/**
 * The deployment examples of docs/deploy.md are parsed, not just read: the systemd unit and the
 * Kubernetes manifest agree with the daemon (its health and readiness routes, its shutdown
 * grace period) and with themselves (ports, probes, timers).
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { DEFAULTS } from '../config/schema.js';

const deploy = await readFile(new URL('../docs/deploy.md', import.meta.url), 'utf8');

/** The fenced blocks of `lang` in the page, in order. */
function blocks(lang: string): string[] {
  return [...deploy.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

/** A systemd unit file: section → key → values (a key may repeat). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const unit: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      unit[section] = {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 1 || !section) throw new Error(`not a unit line: ${line}`);
    (unit[section]![line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return unit;
}

t.test('the systemd unit: serve, SIGTERM, and a stop timeout past the shutdown grace period', async (t) => {
  const units = blocks('ini').filter((b) => b.includes('[Service]'));
  t.equal(units.length, 1, 'one unit');
  const unit = parseUnit(units[0]!);
  const service = unit.Service!;
  t.match(service.ExecStart, [/bin\/recproxy serve$/]);
  t.same(service.KillSignal, ['SIGTERM']);
  t.same(service.Restart, ['on-failure']);
  const stopSec = Number(service.TimeoutStopSec?.[0]);
  t.ok(stopSec * 1000 > DEFAULTS.shutdownGraceMs + 5000, `TimeoutStopSec ${stopSec} s leaves the ${DEFAULTS.shutdownGraceMs} ms grace and closing time`);
  t.same(unit.Install?.WantedBy, ['multi-user.target']);
});

t.test('the Kubernetes manifest: probes on /healthz and /readyz, preStop and grace within the termination period', async (t) => {
  const manifests = blocks('yaml').filter((b) => b.includes('kind: Deployment'));
  t.equal(manifests.length, 1, 'one manifest');
  const docs = parseAllDocuments(manifests[0]!);
  t.same(docs.flatMap((d) => d.errors), [], 'valid YAML');
  const objects = docs.map((d) => d.toJS()) as { kind: string; spec: Record<string, unknown> }[];
  t.same(objects.map((o) => o.kind), ['Deployment', 'Service']);
  type Container = {
    command: string[];
    ports: { name: string; containerPort: number }[];
    env: { name: string; value: string }[];
    livenessProbe: { httpGet: { path: string; port: string } };
    readinessProbe: { httpGet: { path: string; port: string } };
    lifecycle: { preStop: { exec: { command: string[] } } };
  };
  const deployment = objects[0]!.spec as {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { terminationGracePeriodSeconds: number; containers: Container[] } };
  };
  const pod = deployment.template.spec;
  const [c] = pod.containers;
  t.same(c!.command.slice(-2), ['bin/recproxy', 'serve']);
  t.equal(c!.livenessProbe.httpGet.path, '/healthz');
  t.equal(c!.readinessProbe.httpGet.path, '/readyz');
  const env = Object.fromEntries(c!.env.map((e) => [e.name, e.value]));
  const port = c!.ports.find((p) => p.name === c!.readinessProbe.httpGet.port);
  t.equal(String(port?.containerPort), env.PORT, 'the probed port is the one the daemon listens on');
  t.equal(c!.livenessProbe.httpGet.port, port?.name);
  t.equal(env.HOST, '0.0.0.0', 'reachable from the kubelet and the Service');
  const preStop = Number(c!.lifecycle.preStop.exec.command.at(-1));
  const grace = Number(env.RECPROXY_SHUTDOWN_GRACE_MS ?? DEFAULTS.shutdownGraceMs) / 1000;
  t.ok(pod.terminationGracePeriodSeconds >= preStop + grace + 2, `${pod.terminationGracePeriodSeconds} s ≥ preStop ${preStop} s + grace ${grace} s + closing`);
  t.same(deployment.selector.matchLabels, deployment.template.metadata.labels, 'the selector matches the pods');
  const service = objects[1]!.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
  t.same(service.selector, deployment.template.metadata.labels, 'the Service selects the pods');
  t.equal(service.ports[0]!.targetPort, port?.name);
});
