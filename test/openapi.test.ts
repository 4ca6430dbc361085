/**
 * The OpenAPI document (src/routes/openapi.ts): generated from the route schemas, valid by a
 * maintained OpenAPI validator, listing every route the daemon serves with its parameters,
 * headers, responses and error codes; `/docs` loads in the real Chromium without console errors.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { Validator } from '@seriousme/openapi-schema-validator';
import { ERROR_CODES } from '../src/schemas.js';
import { launchChromium } from './helpers/browser.js';
import { startDaemon } from './helpers/daemon.js';

interface Operation {
  parameters?: { name: string; in: string; required?: boolean }[];
  responses: Record<string, { description?: string }>;
  security?: unknown[];
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Routes served but left out of the document on purpose: the document itself, the docs page and the player page's files. */
const UNDOCUMENTED = /^\/(openapi\.json|docs(\/.*)?|player(\/.*|\*)?)$/;

t.test('the document validates and lists every route with its parameters, headers, responses and error codes', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const res = await fetch(`${d.url}/openapi.json`);
  t.equal(res.status, 200);
  const doc = (await res.json()) as Document;
  const validator = new Validator();
  const result = await validator.validate(doc as unknown as Parameters<Validator['validate']>[0]);
  t.same(result.errors, undefined, 'no validation errors');
  t.equal(result.valid, true, `valid OpenAPI ${validator.version}`);
  t.equal(doc.openapi, '3.1.0');

  const served = new Set<string>();
  for (const [path, methods] of Object.entries(doc.paths)) for (const method of Object.keys(methods)) served.add(`${method.toUpperCase()} ${path}`);
  for (const expected of [
    'GET /api/calls/{call_sid}/recording/stream',
    'GET /api/calls/{call_sid}/recording/download',
    'HEAD /api/calls/{call_sid}/recording/download',
    'GET /api/calls/{call_sid}/recording/peaks',
    'GET /api/calls/{call_sid}',
    'GET /api/calls',
    'GET /api/audit',
    'GET /media/{token}',
    'HEAD /media/{token}',
    'GET /healthz',
    'GET /readyz',
    'GET /metrics',
  ]) {
    t.ok(served.has(expected), `documented: ${expected}`);
  }
  const stream = doc.paths['/api/calls/{call_sid}/recording/stream']!.get!;
  t.match(
    stream.parameters!.map((p) => `${p.in} ${p.name} ${p.required === true}`).sort(),
    ['header x-organization-id true', 'path call_sid true'],
    'the path parameter and the organization header',
  );
  t.ok(stream.security?.length, 'API routes say they need a credential');
  t.match(stream.responses['200'], { description: String }, 'the success answer');
  const described = (op: Operation, status: string) => op.responses[status]?.description === `Error codes: ${ERROR_CODES[Number(status)]!.join(', ')}`;
  for (const status of ['400', '401', '403', '404', '412', '416', '429', '500', '503']) t.ok(described(stream, status), `stream, ${status}: its error codes`);
  const upload = doc.paths['/api/calls']!.post!;
  for (const status of ['409', '413', '415']) t.ok(described(upload, status), `upload, ${status}: its error codes`);
  const media = doc.paths['/media/{token}']!.get!;
  t.same(media.parameters!.map((p) => `${p.in} ${p.name}`), ['path token'], '/media/{token}: the token, no header');
  t.notOk(media.security, 'the token is the capability: no credential');
  t.ok(doc.paths['/api/calls']!.get!.parameters!.some((p) => p.in === 'query' && p.name === 'cursor'), 'the listing’s query parameters');
  const peaks = doc.paths['/api/calls/{call_sid}/recording/peaks']!.get!;
  t.ok(peaks.parameters!.some((p) => p.in === 'query' && p.name === 'points'), 'the peaks’ points');
  for (const status of ['200', '400', '404', '422']) t.ok(peaks.responses[status], `peaks: ${status} described`);
  t.ok(described(peaks, '422'), 'peaks, 422: WAVEFORM_UNAVAILABLE');

  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  for (const code of Object.values(ERROR_CODES).flat()) t.match(readme, `| \`${code}\` |`, `${code} is in the README's error table`);
});

t.test('every route the daemon registers is documented', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const doc = (await (await fetch(`${d.url}/openapi.json`)).json()) as Document;
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)));
  const routes = registeredRoutes(d.app.printRoutes({ commonPrefix: false }));
  t.ok(routes.length >= 10, `${routes.length} routes registered`);
  for (const route of routes) {
    if (UNDOCUMENTED.test(route.split(' ')[1]!)) continue;
    t.ok(documented.has(route), `documented: ${route}`);
  }
});

/**
 * `METHOD /path` for every route in Fastify's route tree (printRoutes), paths in OpenAPI's
 * `{param}` form. HEAD is left out: Fastify adds it to every GET (the document shows it where a
 * route declares it, checked above).
 */
function registeredRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = `${stack.join('')}${m[2]!}`;
    stack.push(path.slice(stack.join('').length));
    for (const method of m[3]!.split(', ')) if (method !== 'HEAD') routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
  }
  return routes;
}

t.test('/docs loads in Chromium with no console errors and shows the operations', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(d.url) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  const res = await page.goto(`${d.url}/docs`, { waitUntil: 'networkidle' });
  t.equal(res?.status(), 200);
  await page.waitForSelector('.opblock', { timeout: 30_000 });
  const operations = await page.locator('.opblock-summary-path').allTextContents();
  t.ok(operations.some((p) => p.includes('/api/calls/{call_sid}/recording/stream')), 'the stream route is shown');
  t.same(problems, [], 'no console errors');
  t.same(foreign, [], 'nothing fetched from outside the daemon');
});
