import { createRoute, z } from '@hono/zod-openapi'
import { FlotillaError } from '../../core/errors.js'
import type { WorkerRecord } from '../../store/queue.js'
import { apiRoute } from '../api-route.js'
import { errorResponses, IdParam, json } from '../schemas.js'

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

/** The agents of the live workers (the server holds none itself). */
export const agentRoutes = [
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
]
