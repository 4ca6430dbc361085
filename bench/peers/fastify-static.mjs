/** @fastify/static with its defaults (Range, ETag, Last-Modified) serving BENCH_ROOT at `/`. */
import Fastify from 'fastify';
import fastifyStatic from '@fastify/static';

const app = Fastify({ logger: false });
await app.register(fastifyStatic, { root: process.env.BENCH_ROOT, prefix: '/' });
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
