import { createRoute, z } from '@hono/zod-openapi'
import { FlotillaError } from '../../core/errors.js'
import type { WorkerAgentStats, WorkerRecord } from '../../store/queue.js'
import { apiRoute } from '../api-route.js'
import { compareSemver } from '../../registry/semver.js'
import { errorResponses, IdParam, json, PermissionSchema } from '../schemas.js'

const CatalogAgent = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    capabilities: z.array(z.string()),
    workers: z.array(z.string()).openapi({ description: 'Ids of the live workers that offer it' }),
  })
  .openapi('CatalogAgent')

/** The agents live workers offer, by name, with their versions, capabilities and workers. */
function catalog(workers: readonly WorkerRecord[]) {
  const byName = new Map<string, { versions: Set<string>; capabilities: Set<string>; workers: Set<string> }>()
  for (const w of workers) {
    for (const a of w.agents) {
      let entry = byName.get(a.name)
      if (entry === undefined)
        byName.set(a.name, (entry = { versions: new Set(), capabilities: new Set(), workers: new Set() }))
      entry.versions.add(a.version)
      for (const c of a.capabilities) entry.capabilities.add(c)
      entry.workers.add(w.id)
    }
  }
  return [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => ({
      name,
      versions: [...e.versions].sort(),
      capabilities: [...e.capabilities].sort(),
      workers: [...e.workers].sort(),
    }))
}

const NameParam = z.object({ name: IdParam.openapi({ param: { name: 'name', in: 'path' }, example: 'summarizer' }) })

const WorkerMetrics = z
  .object({
    worker: z.string(),
    version: z.string(),
    calls: z.number(),
    errors: z.number(),
    errorRate: z.number().openapi({ description: 'errors / calls; 0 without calls' }),
    meanLatencyMs: z.number(),
    p95LatencyMs: z.number(),
    heartbeatAt: z.number(),
  })
  .openapi('WorkerAgentMetrics')

const AgentMetricsView = z
  .object({
    agent: z.string(),
    calls: z.number(),
    errors: z.number(),
    errorRate: z.number(),
    meanLatencyMs: z.number().openapi({ description: 'Weighted by calls over the workers' }),
    p95LatencyMs: z
      .number()
      .openapi({ description: 'The highest worker p95: an upper bound, not a merged percentile' }),
    workers: z.array(WorkerMetrics),
  })
  .openapi('RegistryAgentMetrics')

const WorkerHealth = z
  .object({
    worker: z.string(),
    version: z.string(),
    instances: z.number(),
    ready: z.number(),
    circuit: z.enum(['CLOSED', 'HALF_OPEN', 'OPEN']),
    errorRate: z.number(),
    heartbeatAt: z.number(),
  })
  .openapi('WorkerAgentHealth')

const AgentHealthView = z
  .object({
    agent: z.string(),
    status: z.enum(['HEALTHY', 'DEGRADED', 'UNAVAILABLE']).openapi({
      description:
        'UNAVAILABLE: no live worker has a ready instance with a circuit letting calls through; DEGRADED: some can, but a circuit is not closed, an instance is not ready, or more than 20 % of calls failed',
    }),
    workers: z.array(WorkerHealth),
  })
  .openapi('RegistryAgentHealth')

/** The stats each live worker's heartbeat carries for agent `name`, one row per worker and version. */
function statsOf(workers: readonly WorkerRecord[], name: string) {
  const rows: { worker: WorkerRecord; version: string; stats: WorkerAgentStats }[] = []
  let offered = false
  for (const w of workers)
    for (const a of w.agents) {
      if (a.name !== name) continue
      offered = true
      const stats = a.stats ?? {
        instances: 0,
        ready: 0,
        calls: 0,
        errors: 0,
        meanLatencyMs: 0,
        p95LatencyMs: 0,
        circuit: 'CLOSED',
      }
      rows.push({ worker: w, version: a.version, stats })
    }
  if (!offered)
    throw new FlotillaError('AGENT_NOT_FOUND', `No live worker offers an agent "${name}".`, {
      details: { agent: name },
    })
  return rows
}

const rate = (errors: number, calls: number) => (calls === 0 ? 0 : errors / calls)

const CatalogTemplate = z
  .object({
    name: z.string(),
    version: z.string(),
    description: z.string().nullable(),
    model: z.string().openapi({ description: 'provider:model' }),
    tools: z.array(z.string()).openapi({ description: 'Names of the tools its instances may call' }),
    permissions: z
      .array(PermissionSchema)
      .openapi({ description: "What it asks for, carved from the spawner's; empty: calling its own tools" }),
    generic: z.boolean().openapi({ description: 'Stands in for specialties without a template (a specialty prompt)' }),
    workers: z.array(z.string()).openapi({ description: 'Ids of the live workers that hold it' }),
  })
  .openapi('CatalogAgentTemplate')

/** The agent templates live workers hold, one entry per name and version, by name then version. */
function templateCatalog(workers: readonly WorkerRecord[]) {
  const byKey = new Map<string, z.infer<typeof CatalogTemplate>>()
  for (const w of workers)
    for (const t of w.templates ?? []) {
      const key = `${t.name}@${t.version}`
      const entry = byKey.get(key)
      if (entry !== undefined) entry.workers.push(w.id)
      else
        byKey.set(key, {
          name: t.name,
          version: t.version,
          description: t.description ?? null,
          model: t.model,
          tools: [...t.tools],
          permissions: t.permissions.map((p) => ({ resource: p.resource, actions: [...p.actions] })),
          generic: t.generic,
          workers: [w.id],
        })
    }
  return [...byKey.values()]
    .map((t) => ({ ...t, workers: t.workers.sort() }))
    .sort((a, b) => a.name.localeCompare(b.name) || compareSemver(a.version, b.version))
}

/** The agents of the live workers (the server holds none itself). */
export const agentRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/agent-templates',
      tags: ['agents'],
      summary: 'The agent templates live workers hold (agents spawned at run time are made from them)',
      responses: {
        200: json(z.object({ templates: z.array(CatalogTemplate) }), 'Agent templates'),
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: () => ({ kind: 'agent', name: '*' }) },
    handler: async (c) => c.json({ templates: templateCatalog(await c.get('deps').client.workers()) }, 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/agents',
      tags: ['agents'],
      summary: 'The agents live workers offer',
      responses: { 200: json(z.object({ agents: z.array(CatalogAgent) }), 'Agents'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'agent', name: '*' }) },
    handler: async (c) => c.json({ agents: catalog(await c.get('deps').client.workers()) }, 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/agents/{name}',
      tags: ['agents'],
      summary: 'One agent of the live workers',
      request: { params: z.object({ name: IdParam.openapi({ param: { name: 'name', in: 'path' } }) }) },
      responses: { 200: json(CatalogAgent, 'The agent'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.name ?? '' }) },
    handler: async (c) => {
      const { name } = c.req.valid('param')
      const found = catalog(await c.get('deps').client.workers()).find((a) => a.name === name)
      if (found === undefined)
        throw new FlotillaError('AGENT_NOT_FOUND', `No live worker offers an agent "${name}".`, {
          details: { agent: name },
        })
      return c.json(found, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/agents/{name}/metrics',
      tags: ['agents'],
      summary: 'Calls, errors, error rate and latency of an agent, from the heartbeats of the live workers offering it',
      request: { params: NameParam },
      responses: { 200: json(AgentMetricsView, 'Its metrics'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.name ?? '' }) },
    handler: async (c) => {
      const { name } = c.req.valid('param')
      const rows = statsOf(await c.get('deps').client.workers(), name)
      let calls = 0
      let errors = 0
      let latency = 0
      let p95 = 0
      for (const { stats } of rows) {
        calls += stats.calls
        errors += stats.errors
        latency += stats.meanLatencyMs * stats.calls
        p95 = Math.max(p95, stats.p95LatencyMs)
      }
      return c.json(
        {
          agent: name,
          calls,
          errors,
          errorRate: rate(errors, calls),
          meanLatencyMs: calls === 0 ? 0 : latency / calls,
          p95LatencyMs: p95,
          workers: rows.map(({ worker, version, stats }) => ({
            worker: worker.id,
            version,
            calls: stats.calls,
            errors: stats.errors,
            errorRate: rate(stats.errors, stats.calls),
            meanLatencyMs: stats.meanLatencyMs,
            p95LatencyMs: stats.p95LatencyMs,
            heartbeatAt: worker.heartbeatAt,
          })),
        },
        200,
      )
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/agents/{name}/health',
      tags: ['agents'],
      summary: 'Whether an agent can take work: its instances and circuit breakers in each live worker',
      request: { params: NameParam },
      responses: { 200: json(AgentHealthView, 'Its health'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.name ?? '' }) },
    handler: async (c) => {
      const { name } = c.req.valid('param')
      const rows = statsOf(await c.get('deps').client.workers(), name)
      const workers = rows.map(({ worker, version, stats }) => ({
        worker: worker.id,
        version,
        instances: stats.instances,
        ready: stats.ready,
        circuit: stats.circuit,
        errorRate: rate(stats.errors, stats.calls),
        heartbeatAt: worker.heartbeatAt,
      }))
      const serving = workers.filter((w) => w.ready > 0 && w.circuit !== 'OPEN')
      const status =
        serving.length === 0
          ? 'UNAVAILABLE'
          : workers.every((w) => w.circuit === 'CLOSED' && w.ready === w.instances && w.errorRate <= 0.2)
            ? 'HEALTHY'
            : 'DEGRADED'
      return c.json({ agent: name, status, workers }, 200)
    },
  }),
]
