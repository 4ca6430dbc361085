/**
 * The supported Node versions are stated once per place and agree: package.json `engines`, the
 * README, `@types/node`, the Dockerfile's image and the Node 24 CI runs (scripts/node24.sh,
 * docs/node-versions.md).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const image = /^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/m.exec(read('Dockerfile'));
const majors = pkg.engines.node.split('||').map((range) => Number(/\d+/.exec(range)?.[0]));

t.test('engines, the README and @types/node name the same versions', async (t) => {
  t.same(majors, [20, 22, 24], 'engines: 20, 22 and 24');
  t.match(pkg.engines.node, /^\^20\.19\.0 \|\| /, '20 from 20.19, the API level of @types/node');
  t.ok(read('README.md').includes(`\`${pkg.engines.node}\``), 'the README quotes engines');
  t.equal(Number(/\d+/.exec(pkg.devDependencies['@types/node'] ?? '')?.[0]), Math.min(...majors), '@types/node is the oldest major');
});

t.test('the Docker image, engines and the CI Node 24 are one version', async (t) => {
  t.ok(image, 'the Dockerfile pins node:X.Y.Z-bookworm-slim');
  const [, major, minor] = (image ?? []).map(Number);
  t.equal(major, 24, 'the image runs Node 24');
  t.ok(majors.includes(major ?? 0), 'engines admits the image');
  const ci = spawnSync('bash', ['scripts/node24.sh', '--version'], { cwd: ROOT, encoding: 'utf8' });
  t.equal(ci.stdout.trim(), image?.slice(1, 4).join('.'), 'CI tests the image\'s exact Node');
  // better-sqlite3 12 aborts in V8's GC on 24.19.0-24.21.x (Dockerfile); fixed in Node 24.22.0.
  t.match(pkg.dependencies['better-sqlite3'], /^\^12\./);
  t.ok(!(major === 24 && (minor ?? 0) >= 19 && (minor ?? 0) <= 21), `not 24.19-24.21 (is 24.${minor})`);
});

t.test('the image and CI build better-sqlite3 alike: from source, against that Node', async (t) => {
  t.match(read('Dockerfile'), /^ENV npm_config_build_from_source=better-sqlite3$/m);
  t.match(read('scripts/node24.sh'), /npm_config_nodedir="\$pkg" npm_config_build_from_source=better-sqlite3 exec/);
});
