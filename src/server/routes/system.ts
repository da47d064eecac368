import { createRoute, z } from '@hono/zod-openapi'
import { apiRoute } from '../api-route.js'
import { errorResponses, json } from '../schemas.js'

const HealthSchema = z.object({ status: z.literal('ok'), time: z.number() }).openapi('Health')
const ReadySchema = z
  .object({ ready: z.boolean(), store: z.enum(['ok', 'unavailable']), message: z.string().optional() })
  .openapi('Ready')
const WorkerSchema = z
  .object({
    id: z.string(),
    host: z.string(),
    pid: z.number(),
    concurrency: z.number(),
    startedAt: z.number(),
    heartbeatAt: z.number(),
    agents: z.array(z.object({ name: z.string(), version: z.string(), capabilities: z.array(z.string()) })),
  })
  .openapi('Worker')

/** Liveness, readiness and the worker catalog. */
export const systemRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/health',
      tags: ['system'],
      summary: 'Liveness: the process answers',
      security: [],
      responses: { 200: json(HealthSchema, 'Alive') },
    }),
    access: { public: true },
    handler: (c) => c.json({ status: 'ok' as const, time: c.get('deps').clock.wallNow() }, 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/ready',
      tags: ['system'],
      summary: 'Readiness: the store answers and the server accepts work',
      security: [],
      responses: { 200: json(ReadySchema, 'Ready'), 503: json(ReadySchema, 'Not ready') },
    }),
    access: { public: true },
    handler: async (c) => {
      const deps = c.get('deps')
      try {
        await deps.client.listRuns({ limit: 1 })
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e)
        return c.json({ ready: false, store: 'unavailable' as const, message }, 503)
      }
      const ready = deps.ready()
      return c.json({ ready, store: 'ok' as const }, ready ? 200 : 503)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/workers',
      tags: ['system'],
      summary: 'The worker catalog: live workers and the agents each offers',
      responses: { 200: json(z.object({ workers: z.array(WorkerSchema) }), 'Live workers'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'worker', id: '*' }) },
    handler: async (c) => {
      const workers = await c.get('deps').client.workers()
      return c.json(
        {
          workers: workers.map((w) => ({
            ...w,
            agents: w.agents.map((a) => ({ ...a, capabilities: [...a.capabilities] })),
          })),
        },
        200,
      )
    },
  }),
]
