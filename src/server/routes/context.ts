import { createRoute, z } from '@hono/zod-openapi'
import type { Artifact, ArtifactInfo } from '../../context/types.js'
import { apiRoute } from '../api-route.js'
import { errorResponses, json } from '../schemas.js'

/** Artifact ids and cache keys may hold `/` (send it as %2F); the context store validates them. */
const ArtifactId = z.object({
  id: z
    .string()
    .min(1)
    .max(500)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'reports%2Fweekly' }),
})
const CacheKey = z.object({
  key: z
    .string()
    .min(1)
    .max(500)
    .openapi({ param: { name: 'key', in: 'path' }, example: 'doc:latest' }),
})

export const ArtifactInfoSchema = z
  .object({
    id: z.string(),
    version: z.number(),
    encoding: z.enum(['json', 'bytes']),
    contentHash: z.string(),
    size: z.number(),
    metadata: z.record(z.string(), z.unknown()),
    tags: z.array(z.string()),
    createdBy: z.string(),
    createdAt: z.number(),
    basedOn: z.number().nullable(),
    runId: z.string().nullable(),
    taskId: z.string().nullable(),
    expiresAt: z.number().nullable(),
  })
  .openapi('ArtifactInfo')
const ArtifactSchema = ArtifactInfoSchema.extend({
  content: z.unknown().openapi({ description: 'JSON content, or base64 for a bytes artifact' }),
}).openapi('Artifact')
const PutBody = z
  .object({
    content: z.unknown(),
    basedOn: z.number().int().positive().nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    tags: z.array(z.string().max(100)).max(50).optional(),
    ttlMs: z.number().int().positive().optional(),
  })
  .strict()

function infoView(a: ArtifactInfo) {
  return {
    ...a,
    metadata: { ...a.metadata },
    tags: [...a.tags],
    expiresAt: (a as { expiresAt?: number | null }).expiresAt ?? null,
  }
}

function artifactView(a: Artifact) {
  const content = a.content instanceof Uint8Array ? Buffer.from(a.content).toString('base64') : a.content
  return { ...infoView(a), content }
}

/** Artifacts (versioned, with lineage) and the shared cache. */
export const contextRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/artifacts',
      tags: ['context'],
      summary: 'Artifacts this key may read (latest versions), by prefix or tag',
      request: {
        query: z.object({ prefix: z.string().max(500).optional(), tag: z.string().max(100).optional() }),
      },
      responses: { 200: json(z.object({ artifacts: z.array(ArtifactInfoSchema) }), 'Artifacts'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'artifact', id: '*' }) },
    handler: async (c) => {
      const q = c.req.valid('query')
      const p = c.get('principal')
      const all = await c
        .get('deps')
        .context.as(p?.name ?? 'anonymous')
        .list({
          ...(q.prefix === undefined ? {} : { prefix: q.prefix }),
          ...(q.tag === undefined ? {} : { tag: q.tag }),
        })
      const mine = all.filter((a) => p?.permissions.allows(`artifact:${a.id}`, 'read') === true)
      return c.json({ artifacts: mine.map(infoView) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/artifacts/{id}',
      tags: ['context'],
      summary: 'An artifact with its content (the latest version, or ?version=)',
      request: { params: ArtifactId, query: z.object({ version: z.coerce.number().int().positive().optional() }) },
      responses: { 200: json(ArtifactSchema, 'The artifact'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'artifact', id: p.id ?? '' }) },
    handler: async (c) => {
      const { version } = c.req.valid('query')
      const a = await c
        .get('deps')
        .context.as(c.get('principal')?.name ?? 'anonymous')
        .get(c.req.valid('param').id, version === undefined ? {} : { version })
      return c.json(artifactView(a), 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'put',
      path: '/artifacts/{id}',
      tags: ['context'],
      summary: 'Write a new version (basedOn: the version it revises; a stale one is ARTIFACT_CONFLICT)',
      request: { params: ArtifactId, body: { required: true, content: { 'application/json': { schema: PutBody } } } },
      responses: { 200: json(ArtifactInfoSchema, 'The version written'), ...errorResponses },
    }),
    access: { action: 'write', resource: (p) => ({ kind: 'artifact', id: p.id ?? '' }) },
    audit: 'artifact.write',
    handler: async (c) => {
      const { content, ...options } = c.req.valid('json')
      const written = await c
        .get('deps')
        .context.as(c.get('principal')?.name ?? 'anonymous')
        .put(c.req.valid('param').id, content, options)
      return c.json(infoView(written), 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/artifacts/{id}/history',
      tags: ['context'],
      summary: 'Every kept version of an artifact, oldest first, with its lineage (basedOn, run, task, writer)',
      request: { params: ArtifactId },
      responses: { 200: json(z.object({ versions: z.array(ArtifactInfoSchema) }), 'Versions'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'artifact', id: p.id ?? '' }) },
    handler: async (c) => {
      const versions = await c
        .get('deps')
        .context.as(c.get('principal')?.name ?? 'anonymous')
        .history(c.req.valid('param').id)
      return c.json({ versions: versions.map(infoView) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/cache/{key}',
      tags: ['context'],
      summary: 'A shared cache entry (null when absent or expired)',
      request: { params: CacheKey },
      responses: { 200: json(z.object({ key: z.string(), value: z.unknown() }), 'The entry'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'cache', key: p.key ?? '' }) },
    handler: async (c) => {
      const { key } = c.req.valid('param')
      const value = await c
        .get('deps')
        .context.cacheAs(c.get('principal')?.name ?? 'anonymous')
        .get(key)
      return c.json({ key, value: value ?? null }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'put',
      path: '/cache/{key}',
      tags: ['context'],
      summary: 'Share a value under a key for ttlMs',
      request: {
        params: CacheKey,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({ value: z.unknown(), ttlMs: z.number().int().positive() }).strict(),
            },
          },
        },
      },
      responses: { 200: json(z.object({ key: z.string(), ttlMs: z.number() }), 'Stored'), ...errorResponses },
    }),
    access: { action: 'write', resource: (p) => ({ kind: 'cache', key: p.key ?? '' }) },
    audit: 'cache.write',
    handler: async (c) => {
      const { key } = c.req.valid('param')
      const { value, ttlMs } = c.req.valid('json')
      await c
        .get('deps')
        .context.cacheAs(c.get('principal')?.name ?? 'anonymous')
        .share(key, value, { ttlMs })
      return c.json({ key, ttlMs }, 200)
    },
  }),
]
