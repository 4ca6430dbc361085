/**
 * The layering rules of docs/architecture.md, checked on the import graph (dpdm, type imports
 * included): which folder may import which, no import cycles, and the SQLite driver only inside
 * the SQLite stores. Returns one line per violation; none means the tree keeps the rules.
 */
import { relative, resolve, sep } from 'node:path';
import { parseCircular, parseDependencyTree } from 'dpdm';

/** A layer: the files it holds (a path prefix) and the prefixes it may import from, besides itself. */
export interface Layer {
  name: string;
  prefix: string;
  mayImport: string[];
}

export interface LayerRules {
  layers: Layer[];
  /** Packages only the listed path prefixes may import. */
  packagesOnlyIn?: Record<string, string[]>;
}

export interface GraphReport {
  /** `from -> to` for every project-internal import, sorted. */
  edges: string[];
  cycles: string[][];
  violations: string[];
}

export async function checkLayers(root: string, globs: string[], rules: LayerRules): Promise<GraphReport> {
  const tree = await parseDependencyTree(globs, {
    context: root,
    cwd: root,
    transform: false,
    skipDynamicImports: false,
    tsconfig: `${root}/tsconfig.json`,
  });
  // dpdm names files relative to `context` (or absolute): both resolve against the root.
  const rel = (file: string) => relative(root, resolve(root, file)).split(sep).join('/');
  const layerOf = (file: string) => rules.layers.find((l) => file.startsWith(l.prefix));
  const edges: string[] = [];
  const violations: string[] = [];
  for (const [issuer, deps] of Object.entries(tree)) {
    const from = rel(issuer);
    for (const dep of deps ?? []) {
      const onlyIn = rules.packagesOnlyIn?.[dep.request];
      if (onlyIn && !onlyIn.some((p) => from.startsWith(p))) {
        violations.push(`${from} imports ${dep.request}, allowed only in ${onlyIn.join(', ')}`);
      }
      if (dep.id === null) {
        if (dep.request.startsWith('.')) violations.push(`${from} imports ${dep.request}, which does not resolve`);
        continue;
      }
      const to = rel(dep.id);
      if (to.startsWith('node_modules/') || to.startsWith('..') || dep.id.startsWith('node:')) continue;
      if (!dep.request.startsWith('.')) continue;
      edges.push(`${from} -> ${to}`);
      const layer = layerOf(from);
      if (layer && !to.startsWith(layer.prefix) && !layer.mayImport.some((p) => to.startsWith(p))) {
        violations.push(`${from} (${layer.name}) imports ${to}; ${layer.name} may import only ${[layer.prefix, ...layer.mayImport].join(', ')}`);
      }
    }
  }
  const cycles = parseCircular(tree, false).map((cycle) => cycle.map(rel));
  for (const cycle of cycles) violations.push(`import cycle: ${[...cycle, cycle[0]].join(' -> ')}`);
  return { edges: edges.sort(), cycles, violations };
}
