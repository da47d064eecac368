import { createRoute, z } from '@hono/zod-openapi'
import { FlotillaError } from '../../core/errors.js'
import type { DeadLetter } from '../../messaging/bus.js'
import type { KeyPrincipal } from '../../security/api-keys.js'
import { apiRoute } from '../api-route.js'
import { agentDirectory } from '../deployed-access.js'
import { errorResponses, IdParam, json, optionalJson } from '../schemas.js'
import type { ServerDeps } from '../server-deps.js'

const DeadLetterSchema = z
  .object({
    id: z.string(),
    from: z.string(),
    to: z.string().openapi({ description: 'The agent whose mailbox it is in' }),
    body: z.unknown(),
    headers: z.record(z.string(), z.string()),
    attempt: z.number().openapi({ description: 'Deliveries made before it was dead-lettered' }),
    sentAt: z.number(),
    deadAt: z.number().openapi({ description: 'Milliseconds since the epoch' }),
    reason: z.string(),
  })
  .openapi('DeadLetter')

const Page = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional().openapi({ description: 'Default 50' }),
  cursor: z.string().max(300).optional().openapi({ description: 'The nextCursor of the previous page' }),
})

const DeadLetterPage = z
  .object({
    deadLetters: z.array(DeadLetterSchema).openapi({ description: 'Oldest first (by deadAt, then id)' }),
    nextCursor: z.string().nullable(),
    mailboxes: z.boolean().openapi({
      description:
        'False when this server reads no mailboxes (a SQLite or memory store without --agent-modules): the list is then empty',
    }),
  })
  .openapi('DeadLetterPage')

const NameParam = IdParam.openapi({ param: { name: 'name', in: 'path' }, example: 'summarizer' })
const MessageParam = IdParam.openapi({ param: { name: 'id', in: 'path' }, example: 'msg_3f2a9c…' })

function parseCursor(cursor: string | undefined): { at: number; id: string } | undefined {
  if (cursor === undefined) return undefined
  const m = /^(\d{1,16}(?:\.\d{1,6})?):([A-Za-z0-9._:@-]{1,200})$/.exec(cursor)
  if (m === null)
    throw new FlotillaError('VALIDATION_FAILED', 'cursor is not one this API gave (use nextCursor as is).', {
      details: { field: 'cursor' },
    })
  return { at: Number(m[1]), id: m[2] as string }
}

/**
 * One page of dead letters, oldest first by (deadAt, id): those after the
 * cursor, at most `limit`, and the cursor of the next page (null on the last).
 */
export function pageOf(
  all: readonly DeadLetter[],
  limit: number,
  cursor: string | undefined,
): { deadLetters: DeadLetter[]; nextCursor: string | null } {
  const after = parseCursor(cursor)
  const sorted = [...all].sort((a, b) => a.deadAt - b.deadAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const rest =
    after === undefined
      ? sorted
      : sorted.filter((d) => d.deadAt > after.at || (d.deadAt === after.at && d.id > after.id))
  const page = rest.slice(0, limit)
  const last = page[page.length - 1]
  return {
    deadLetters: page,
    nextCursor: rest.length > limit && last !== undefined ? `${last.deadAt}:${last.id}` : null,
  }
}

/** The names of the agents whose mailboxes the server knows: the live workers' catalog and the deployed agents. */
async function knownAgents(deps: ServerDeps): Promise<string[]> {
  const names = new Set((await deps.client.workers()).flatMap((w) => w.agents.map((a) => a.name)))
  for (const a of await agentDirectory(deps).list()) if (a.state !== 'TERMINATED') names.add(a.name)
  return [...names].sort()
}

const view = (d: DeadLetter) => ({ ...d, headers: { ...d.headers } })

const readable = (p: KeyPrincipal | undefined, agent: string) =>
  p?.permissions.allows(`agent:${agent}`, 'read') === true

/** Dead letters of agents' mailboxes: listed (all, or per agent) and replayed. */
export const deadLetterRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/dead-letters',
      tags: ['agents'],
      summary:
        'Dead letters of every mailbox this key may read (agents of live workers and deployed agents), oldest first, paginated',
      request: { query: Page },
      responses: { 200: json(DeadLetterPage, 'A page of dead letters'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'agent', name: '*' }) },
    handler: async (c) => {
      const deps = c.get('deps')
      const q = c.req.valid('query')
      if (deps.bus === undefined) return c.json({ deadLetters: [], nextCursor: null, mailboxes: false }, 200)
      const all: DeadLetter[] = []
      for (const agent of await knownAgents(deps))
        if (readable(c.get('principal'), agent)) all.push(...(await deps.bus.deadLetters(agent)))
      const page = pageOf(all, q.limit ?? 50, q.cursor)
      return c.json({ ...page, deadLetters: page.deadLetters.map(view), mailboxes: true }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/agents/{name}/dead-letters',
      tags: ['agents'],
      summary: 'Dead letters of one agent’s mailbox, oldest first, paginated',
      request: { params: z.object({ name: NameParam }), query: Page },
      responses: { 200: json(DeadLetterPage, 'A page of dead letters'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.name ?? '' }) },
    handler: async (c) => {
      const deps = c.get('deps')
      const { name } = c.req.valid('param')
      const q = c.req.valid('query')
      if (deps.bus === undefined) return c.json({ deadLetters: [], nextCursor: null, mailboxes: false }, 200)
      const page = pageOf(await deps.bus.deadLetters(name), q.limit ?? 50, q.cursor)
      return c.json({ ...page, deadLetters: page.deadLetters.map(view), mailboxes: true }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/agents/{name}/dead-letters/{id}/replay',
      tags: ['agents'],
      summary:
        'Deliver a dead letter again: it goes back to the agent’s mailbox with its attempts reset (the agent’s ctx.receive reads it)',
      request: {
        params: z.object({ name: NameParam, id: MessageParam }),
        body: optionalJson(z.object({}).strict()),
      },
      responses: {
        200: json(z.object({ id: z.string(), agent: z.string(), replayed: z.literal(true) }), 'Back in the mailbox'),
        ...errorResponses,
      },
    }),
    access: { action: 'send', resource: (p) => ({ kind: 'agent', name: p.name ?? '' }) },
    audit: 'agent.dead-letter.replay',
    handler: async (c) => {
      const deps = c.get('deps')
      const { name, id } = c.req.valid('param')
      c.set('auditDetails', { message: id })
      if (deps.bus === undefined)
        throw new FlotillaError(
          'AGENT_HOST_DISABLED',
          'This server reads no mailboxes: its store has no shared bus (SQLite or memory) and it governs no agents. Start it with --agent-modules DIR, or on a PostgreSQL store, to replay dead letters.',
        )
      if (!(await deps.bus.replayDeadLetter(name, id)))
        throw new FlotillaError(
          'DEAD_LETTER_NOT_FOUND',
          `No dead letter ${id} in the mailbox of agent "${name}" (replayed already, or never dead-lettered); GET /api/v1/agents/${name}/dead-letters lists them.`,
          { details: { agent: name, id } },
        )
      return c.json({ id, agent: name, replayed: true as const }, 200)
    },
  }),
]
