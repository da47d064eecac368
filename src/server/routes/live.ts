import { createRoute, z } from '@hono/zod-openapi'
import { apiRoute } from '../api-route.js'
import type { Client } from '../../orchestrator/client.js'
import { liveFeed, streamEvents, type LiveFeed, type LiveOptions } from '../live-events.js'
import { streamAgentEvents, streamAuditEvents } from '../team-events.js'
import { errorResponses, IdParam } from '../schemas.js'

const sse = {
  description:
    'Server-sent events: `id` is the position to resume from (Last-Event-ID), `event` the event type, `data` the event as JSON',
  content: { 'text/event-stream': { schema: z.string() } },
}
const After = z.object({
  after: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: 'Resume after this position (the Last-Event-ID header does the same)' }),
})

/** The shared pages of the event log of a server's client, woken by its commits when `live` can tell. */
const feedOf = (client: Client, live: LiveOptions | undefined): LiveFeed =>
  liveFeed(client, (o) => client.tailEvents(o), live)

/** Live events of runs, resumable from the store's event log. */
export const liveRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/events',
      tags: ['runs'],
      summary: 'Live events of every run this key may read (server-sent events)',
      request: { query: After },
      responses: { 200: sse, ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'run', id: '*' }) },
    handler: (c) => {
      const { client, live } = c.get('deps')
      return streamEvents(c, feedOf(client, live), {})
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/runs/{id}/live',
      tags: ['runs'],
      summary: 'Live events of one run (server-sent events); the stream ends after the run’s final event',
      request: { params: z.object({ id: IdParam.openapi({ param: { name: 'id', in: 'path' } }) }), query: After },
      responses: { 200: sse, ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'run', id: p.id ?? '' }) },
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const { client, live } = c.get('deps')
      await client.getRun(id)
      return streamEvents(c, feedOf(client, live), { runId: id, stopWhenFinal: true })
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/events/agents',
      tags: ['deployed agents'],
      summary:
        'Live events of the agents this server governs (agent.state, agent.reported, permission.denied) as server-sent events; live only, not resumable',
      responses: { 200: sse, ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'agent', name: '*' }) },
    handler: (c) => streamAgentEvents(c),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/events/security',
      tags: ['security'],
      summary:
        'The audit log as server-sent events (key created, rotated, revoked; auth failures; denials; blocks; every state-changing call), resumable by seq',
      request: { query: After },
      responses: { 200: sse, ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'audit' }) },
    handler: (c) => streamAuditEvents(c),
  }),
]
