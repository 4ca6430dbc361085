/**
 * The layers of docs/architecture.md hold: the foundation (src/core) imports nothing of the
 * project; adapters and config import only the foundation; the byte-serving and store layers stand
 * on the foundation; the SQLite driver is used only inside the SQLite stores; no import cycles.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import t from 'tap';
import { checkLayers, type LayerRules } from './helpers/layers.js';

const ROOT = resolve(import.meta.dirname, '..');

/** The rules docs/architecture.md states, in the same words. */
export const RULES: LayerRules = {
  layers: [
    { name: 'foundation', prefix: 'src/core/', mayImport: [] },
    { name: 'adapters', prefix: 'adapters/', mayImport: ['src/core/'] },
    { name: 'config', prefix: 'config/', mayImport: ['src/core/'] },
    { name: 'bytes', prefix: 'src/bytes/', mayImport: ['src/core/'] },
    { name: 'stores', prefix: 'src/stores/', mayImport: ['src/core/'] },
  ],
  packagesOnlyIn: { 'better-sqlite3': ['src/stores/sqlite/'] },
};

t.test('the tree keeps the layering rules and has no import cycle', async (t) => {
  const report = await checkLayers(ROOT, ['src/**/*.ts', 'adapters/**/*.ts', 'config/**/*.ts', 'bench/**/*.mjs'], RULES);
  t.ok(report.edges.length > 50, `the graph was read (${report.edges.length} internal imports)`);
  t.ok(report.edges.some((e) => e.startsWith('adapters/s3.ts -> src/core/')), 'adapters import the foundation');
  t.same(report.cycles, [], 'no import cycle');
  t.same(report.violations, [], 'no import crosses a layer it may not');
});

t.test('the check fails on a cycle, an adapter importing past the foundation, and the driver outside the stores', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-layers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
    'src/core/errors.ts': "export const E = 1;\n",
    'src/core/leak.ts': "import { B } from '../b.js';\nexport const L = B;\n",
    'src/a.ts': "import { B } from './b.js';\nexport const A = 1 + B;\n",
    'src/b.ts': "import type { A } from './a.js';\nexport const B = 2;\nexport type T = typeof A;\n",
    'adapters/bad.ts': "import { A } from '../src/a.js';\nimport { E } from '../src/core/errors.js';\nexport const X = A + E;\n",
    'adapters/good.ts': "import { E } from '../src/core/errors.js';\nexport const G = E;\n",
    'config/load.ts': "import { E } from '../src/core/errors.js';\nexport const C = E;\n",
    'src/index-file.ts': "import Database from 'better-sqlite3';\nexport const D = Database;\n",
    'src/stores/sqlite/calls.ts': "import Database from 'better-sqlite3';\nexport const S = Database;\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const report = await checkLayers(dir, ['src/**/*.ts', 'adapters/**/*.ts', 'config/**/*.ts'], RULES);
  const text = report.violations.join('\n');
  t.match(text, /import cycle: src\/(a|b)\.ts -> src\/(a|b)\.ts -> src\/(a|b)\.ts/, 'a type-only cycle is a cycle');
  t.match(text, /adapters\/bad\.ts \(adapters\) imports src\/a\.ts/, 'an adapter importing past the foundation');
  t.match(text, /src\/core\/leak\.ts \(foundation\) imports src\/b\.ts/, 'the foundation importing upward');
  t.match(text, /src\/index-file\.ts imports better-sqlite3/, 'the driver outside the SQLite stores');
  t.notMatch(text, /adapters\/good\.ts|config\/load\.ts|^src\/stores\/sqlite/m, 'allowed imports pass');
  t.equal(report.violations.length, 4, text);
});
