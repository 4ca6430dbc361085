/**
 * Framework ceiling: Fastify with one route at recproxy's stream path that answers a fixed
 * JSON body (the body recproxy itself answered, passed in BENCH_BODY). No schema, no logger,
 * no index lookup, no storage, no signing: what Fastify alone costs per request.
 */
import Fastify from 'fastify';

const body = JSON.parse(process.env.BENCH_BODY ?? '{}');
const app = Fastify({ logger: false });
app.get('/api/calls/:call_sid/recording/stream', async () => body);
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
