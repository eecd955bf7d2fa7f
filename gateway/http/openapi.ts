/**
 * /openapi.json, generated from the RouteDefs: the same TypeBox schemas that validate requests
 * describe them here, so the document cannot drift from what the gateway enforces.
 */
import { API_CODES } from '../errors.ts';
import type { RouteDef } from './route.ts';

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(API_CODES) },
        message: { type: 'string' },
        details: { type: 'object' },
      },
    },
  },
};

function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export function openApiDocument(routes: readonly RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const def of routes) {
    const path = openApiPath(def.path);
    const parameters = [...def.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => ({
      name: match[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (def.query) {
      const properties =
        (def.query as { properties?: Record<string, unknown>; required?: string[] }).properties ?? {};
      const required = new Set((def.query as { required?: string[] }).required ?? []);
      for (const [name, schema] of Object.entries(properties)) {
        parameters.push({ name, in: 'query', required: required.has(name), schema } as never);
      }
    }
    if (def.idempotent) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: { type: 'string', maxLength: 255 },
      } as never);
    }
    const responses = Object.fromEntries(
      Object.entries(def.responses).map(([status, description]) => [
        status,
        Number(status) >= 400
          ? {
              description,
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            }
          : { description },
      ]),
    );
    (paths[path] ??= {})[def.method.toLowerCase()] = {
      summary: def.summary,
      ...(def.tags ? { tags: def.tags } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(def.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: def.body } } } }
        : {}),
      ...(def.auth === 'none'
        ? {}
        : { security: [{ [def.auth === 'admin' ? 'adminToken' : 'session']: [] }] }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'CET seat reservation gateway', version: '1' },
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: {
        session: { type: 'http', scheme: 'bearer', description: 'token from POST /api/v1/sessions' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN from the environment' },
      },
    },
  };
}
