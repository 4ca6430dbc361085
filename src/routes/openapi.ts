/**
 * The API described: an OpenAPI 3.1 document generated from the route schemas
 * (@fastify/swagger), served at `/openapi.json`, and interactive docs at `/docs`
 * (@fastify/swagger-ui, its assets shipped in the package: nothing is fetched from elsewhere).
 * Registered before the routes, so that it sees each one as it is added.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'recproxy',
        version,
        description:
          'Call recordings: stream URLs an HTML5 <audio> element plays and seeks, downloads with Range, and the calls index. ' +
          'API routes need a credential (an API key as a Bearer token, a JWT, or trusted proxy headers) and X-Organization-Id.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'an API key (rpk_…) or a JWT, per RECPROXY_AUTH_MODE' },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const described = { ...(schema ?? {}) } as Record<string, unknown>;
      if (url.startsWith('/api/') && !described.security) described.security = [{ bearer: [] }];
      if (route.config && (route.config as { summary?: string }).summary && !described.summary) described.summary = (route.config as { summary?: string }).summary;
      return { schema: described as typeof schema, url };
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: false },
    // Scripts and everything else from the daemon only; Swagger UI sets inline styles.
    staticCSP: true,
    transformStaticCSP: (header) => header.replace("style-src 'self' https:", "style-src 'self' 'unsafe-inline'").replace(/ https:/g, ''),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
