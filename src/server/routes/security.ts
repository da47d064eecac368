import { createRoute, z } from '@hono/zod-openapi'
import { FlotillaError } from '../../core/errors.js'
import { ROLE_DESCRIPTIONS, ROLE_GRANTS, ROLES } from '../../security/roles.js'
import { apiRoute } from '../api-route.js'
import { keyUsage, MAX_USAGE_RUNS } from '../key-usage.js'
import {
  ApiKeySchema,
  AuditEntrySchema,
  BlockSchema,
  errorResponses,
  IdParam,
  IssuedKeySchema,
  json,
  ModelSpendSchema,
  optionalJson,
  PermissionSchema,
} from '../schemas.js'

const KeyUsageSchema = z
  .object({
    key: z.string(),
    runs: z.number().openapi({ description: 'Runs the key started (through the API) among those read' }),
    model: ModelSpendSchema,
    scanned: z.number().openapi({ description: 'Runs read: the sum covers these' }),
  })
  .openapi('KeyUsage')

const KeyId = z.object({ id: IdParam.openapi({ param: { name: 'id', in: 'path' } }) })
const Target = z.object({
  target: z
    .string()
    .regex(/^(ip|key):[A-Za-z0-9.:_-]{1,100}$/, 'ip:<address> or key:<id>')
    .openapi({ param: { name: 'target', in: 'path' }, example: 'ip:10.0.0.7' }),
})
const CreateKey = z
  .object({
    name: z.string().min(1).max(64),
    role: z.enum(ROLES),
    scopes: z.array(PermissionSchema).max(100).optional(),
    ttlMs: z.number().int().positive().optional(),
  })
  .strict()
const Verification = z
  .object({
    ok: z.boolean(),
    checked: z.number(),
    head: z.string(),
    problem: z
      .object({ seq: z.number(), kind: z.enum(['changed', 'removed', 'inserted']), message: z.string() })
      .optional(),
  })
  .openapi('AuditVerification')

const actor = (c: { get(k: 'principal'): { name: string } | undefined }): string =>
  c.get('principal')?.name ?? 'unknown'

/** Keys, roles, the audit log, blocks, and checking a permission. */
export const securityRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/security/roles',
      tags: ['security'],
      summary: 'The role table: what each role may do',
      responses: {
        200: json(
          z.object({
            roles: z.array(
              z.object({ role: z.enum(ROLES), description: z.string(), grants: z.array(PermissionSchema) }),
            ),
          }),
          'Roles',
        ),
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: () => ({ kind: 'workflow', name: '*' }) },
    handler: (c) =>
      c.json(
        {
          roles: ROLES.map((role) => ({
            role,
            description: ROLE_DESCRIPTIONS[role],
            grants: ROLE_GRANTS[role].map((g) => ({ resource: g.resource, actions: [...g.actions] })),
          })),
        },
        200,
      ),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/security/whoami',
      tags: ['security'],
      summary: 'The key of this request, and whether it may take an action on a resource',
      request: {
        query: z.object({
          resource: z.string().max(500).optional().openapi({ example: 'workflow:nightly-report' }),
          action: z.string().max(64).optional().openapi({ example: 'start' }),
        }),
      },
      responses: {
        200: json(
          z.object({ key: z.string(), name: z.string(), role: z.enum(ROLES), allowed: z.boolean().nullable() }),
          'This key',
        ),
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: () => ({ kind: 'key', id: 'self' }) },
    handler: (c) => {
      const p = c.get('principal')
      if (p === undefined) throw new FlotillaError('AUTH_REQUIRED', 'This call needs an API key.')
      const q = c.req.valid('query')
      const allowed =
        q.resource !== undefined && q.action !== undefined ? p.permissions.allows(q.resource, q.action) : null
      return c.json({ key: p.keyId, name: p.keyName, role: p.role, allowed }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/security/keys',
      tags: ['security'],
      summary: 'Every API key (never a secret)',
      responses: { 200: json(z.object({ keys: z.array(ApiKeySchema) }), 'Keys'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'key', id: '*' }) },
    handler: async (c) => c.json({ keys: await c.get('deps').keys.list() }, 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/security/keys',
      tags: ['security'],
      summary: 'Create a key; its secret is in this response only',
      request: { body: { required: true, content: { 'application/json': { schema: CreateKey } } } },
      responses: { 201: json(IssuedKeySchema, 'The new key'), ...errorResponses },
    }),
    access: { action: 'create', resource: () => ({ kind: 'key', id: '*' }) },
    audit: 'key.create',
    handler: async (c) => {
      const issued = await c.get('deps').keys.create({ ...c.req.valid('json'), by: actor(c) })
      return c.json(issued, 201)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/security/keys/{id}/usage',
      tags: ['security'],
      summary: 'What the runs a key started spent on models (tokens, calls, cost), summed from their task records',
      request: {
        params: KeyId,
        query: z.object({
          since: z.coerce.number().optional().openapi({ description: 'Only runs created at or after this time (ms)' }),
          limit: z.coerce
            .number()
            .int()
            .min(1)
            .max(MAX_USAGE_RUNS)
            .optional()
            .openapi({ description: `Read at most this many runs, newest first (default ${MAX_USAGE_RUNS})` }),
        }),
      },
      responses: { 200: json(KeyUsageSchema, "The key's spend"), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'key', id: p.id ?? '' }) },
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const deps = c.get('deps')
      await deps.keys.get(id) // KEY_NOT_FOUND for an unknown id
      return c.json(await keyUsage(deps.client, id, c.req.valid('query')), 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/security/keys/{id}/rotate',
      tags: ['security'],
      summary: 'A new secret for a key; the old one works for graceMs more',
      request: {
        params: KeyId,
        body: optionalJson(z.object({ graceMs: z.number().int().min(0).optional() }).strict()),
      },
      responses: { 200: json(IssuedKeySchema, 'The key with its new secret'), ...errorResponses },
    }),
    access: { action: 'rotate', resource: (p) => ({ kind: 'key', id: p.id ?? '' }) },
    audit: 'key.rotate',
    handler: async (c) => {
      const graceMs = (c.req.valid('json') as { graceMs?: number } | undefined)?.graceMs ?? 0
      return c.json(await c.get('deps').keys.rotate(c.req.valid('param').id, { graceMs, by: actor(c) }), 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'delete',
      path: '/security/keys/{id}',
      tags: ['security'],
      summary: 'Revoke a key at once',
      request: { params: KeyId },
      responses: { 200: json(ApiKeySchema, 'The revoked key'), ...errorResponses },
    }),
    access: { action: 'revoke', resource: (p) => ({ kind: 'key', id: p.id ?? '' }) },
    audit: 'key.revoke',
    handler: async (c) => c.json(await c.get('deps').keys.revoke(c.req.valid('param').id), 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/security/audit',
      tags: ['security'],
      summary: 'Audit entries by actor, action, resource and time, oldest first',
      request: {
        query: z.object({
          actor: z.string().max(200).optional(),
          action: z.string().max(100).optional(),
          resource: z.string().max(500).optional(),
          since: z.coerce.number().optional(),
          until: z.coerce.number().optional(),
          afterSeq: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(1000).optional(),
        }),
      },
      responses: { 200: json(z.object({ entries: z.array(AuditEntrySchema) }), 'Entries'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'audit' }) },
    handler: async (c) => {
      const q = c.req.valid('query')
      const filter = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined))
      return c.json({ entries: await c.get('deps').audit.query(filter) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/security/audit/verify',
      tags: ['security'],
      summary: 'Walk the hash chain; name the first entry changed, removed or inserted',
      responses: { 200: json(Verification, 'The result'), ...errorResponses },
    }),
    access: { action: 'verify', resource: () => ({ kind: 'audit' }) },
    handler: async (c) => c.json(await c.get('deps').audit.verify(), 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/security/blocks',
      tags: ['security'],
      summary: 'Keys and addresses blocked now',
      responses: { 200: json(z.object({ blocks: z.array(BlockSchema) }), 'Blocks'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'block', target: '*' }) },
    handler: async (c) => c.json({ blocks: await c.get('deps').guard.list() }, 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'delete',
      path: '/security/blocks/{target}',
      tags: ['security'],
      summary: 'Lift a block',
      request: { params: Target },
      responses: { 200: json(z.object({ lifted: z.boolean() }), 'Whether a block was in force'), ...errorResponses },
    }),
    access: { action: 'lift', resource: (p) => ({ kind: 'block', target: p.target ?? '' }) },
    handler: async (c) => {
      const lifted = await c.get('deps').guard.lift(c.req.valid('param').target, actor(c), c.get('requestId'))
      return c.json({ lifted }, 200)
    },
  }),
]
