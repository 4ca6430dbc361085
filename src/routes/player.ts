/**
 * The player page: the static files of `player/` (index.html, its scripts and stylesheet) at
 * `/player/`, and wavesurfer.js's ES module build at `/player/vendor/wavesurfer.esm.js`, where
 * `player/embed.js` imports it from. Public files with no credential in them (the page asks for
 * the key and calls the API like any other client); out of the OpenAPI document. CORS is the
 * server's (src/server.ts: RECPROXY_CORS_ORIGINS), so a page of a listed origin can load the
 * player as a module script.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';

/** `player/` at the repository's (or the package's) root: beside src/ in the source, beside dist/ once built. */
export function playerRoot(): string {
  const candidates = ['../../player', '../../../player'].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  // Neither: @fastify/static refuses to start with the first, naming it.
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!;
}

/** wavesurfer.js's ES module build, wherever the package is installed. */
export function wavesurferModule(): string {
  return fileURLToPath(import.meta.resolve('wavesurfer.js'));
}

export const playerRoutes: FastifyPluginAsync = async (app) => {
  const root = playerRoot();
  const vendor = wavesurferModule();
  await app.register(fastifyStatic, {
    root,
    prefix: '/player',
    // `/player` → `/player/`, so the page's relative URLs resolve under it.
    redirect: true,
    index: 'index.html',
    // A new release's files are picked up at once: revalidated on each use (ETag, Last-Modified).
    cacheControl: true,
    maxAge: 0,
    schemaHide: true,
    // The page's own files only: HTML, its scripts and stylesheet (not the types beside the vendor module).
    allowedPath: (path) => /^\/?(?:[\w-]+(?:\.[\w-]+)*\.(?:html|js|css))?$/.test(path),
  });
  app.get('/player/vendor/wavesurfer.esm.js', { schema: { hide: true } }, (_request, reply) => reply.sendFile('wavesurfer.esm.js', dirname(vendor)));
};
