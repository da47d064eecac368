import { createRoute, z } from '@hono/zod-openapi'
import { FlotillaError } from '../../core/errors.js'
import { RUN_STATES, type RunState } from '../../core/states.js'
import { apiRoute } from '../api-route.js'
import {
  optionalJson,
  errorResponses,
  IdParam,
  json,
  nullify,
  RunSchema,
  StoredEventSchema,
  TaskSchema,
} from '../schemas.js'
import type { ReplayOptions } from '../../orchestrator/replay.js'
import type { RunRecord, TaskRecord } from '../../store/records.js'

const RunId = z.object({ id: IdParam.openapi({ param: { name: 'id', in: 'path' }, example: 'run_m1abc' }) })

/** A run as the API shows it (no definition). */
export function runView(r: RunRecord) {
  const { definition: _definition, ...rest } = r
  return { ...nullify(rest), parentTaskId: r.parentTaskId ?? null, summary: r.summary ?? null }
}

/** A task as the API shows it. */
export function taskView(t: TaskRecord) {
  const { runId: _runId, idempotencyKey: _key, ...rest } = t
  return nullify(rest)
}

const ListQuery = z.object({
  state: z
    .string()
    .optional()
    .openapi({ description: `Comma-separated states: ${RUN_STATES.join(', ')}` }),
  workflow: z.string().max(200).optional(),
  parentRunId: z
    .string()
    .max(300)
    .optional()
    .openapi({ description: 'Only the runs of this run: its child runs (parentTaskId set) and its replays' }),
  limit: z.coerce.number().int().min(1).max(500).optional().openapi({ description: 'At most this many (default 50)' }),
  cursor: z.string().max(300).optional().openapi({ description: 'The nextCursor of the previous page' }),
})

function parseStates(text: string | undefined): RunState[] | undefined {
  if (text === undefined || text === '') return undefined
  const states = text.split(',').map((s) => s.trim().toUpperCase())
  for (const s of states) {
    if (!(RUN_STATES as readonly string[]).includes(s))
      throw new FlotillaError('VALIDATION_FAILED', `state must be among ${RUN_STATES.join(', ')}; got "${s}".`, {
        details: { field: 'state' },
      })
  }
  return states as RunState[]
}

/** Cursor: `<createdAt>:<id>` of the last run of the page (runs are listed newest first). */
function parseCursor(cursor: string | undefined): { at: number; id: string } | undefined {
  if (cursor === undefined) return undefined
  const m = /^(\d{1,16}):([A-Za-z0-9._:@-]{1,200})$/.exec(cursor)
  if (m === null)
    throw new FlotillaError('VALIDATION_FAILED', 'cursor is not one this API gave (use nextCursor as is).', {
      details: { field: 'cursor' },
    })
  return { at: Number(m[1]), id: m[2] as string }
}

const control = (action: 'pause' | 'resume' | 'cancel', summary: string) =>
  apiRoute({
    config: createRoute({
      method: 'post',
      path: `/runs/{id}/${action}`,
      tags: ['runs'],
      summary,
      request: {
        params: RunId,
        body: optionalJson(
          z
            .object({
              reason: z.string().max(500).optional().openapi({ description: 'Why (cancel only)' }),
            })
            .strict(),
        ),
      },
      responses: { 200: json(RunSchema, 'The run after the change'), ...errorResponses },
    }),
    access: { action, resource: (p) => ({ kind: 'run', id: p.id ?? '' }) },
    audit: `run.${action}`,
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const client = c.get('deps').client
      const actor = { actor: c.get('principal')?.name ?? 'unknown' }
      if (action === 'pause') await client.pause(id, actor)
      else if (action === 'resume') await client.resume(id, actor)
      else {
        const given = (c.req.valid('json') as { reason?: string } | undefined)?.reason
        const reason = given !== undefined && given !== '' ? given : 'cancelled through the API'
        await client.cancel(id, reason, actor)
      }
      return c.json(runView(await client.getRun(id)), 200)
    },
  })

/** Runs: list, show, tasks, events, pause, resume, cancel. */
export const runRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/runs',
      tags: ['runs'],
      summary: 'Runs, newest first, with filters and cursor pagination',
      request: { query: ListQuery },
      responses: {
        200: json(z.object({ runs: z.array(RunSchema), nextCursor: z.string().nullable() }), 'A page of runs'),
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: () => ({ kind: 'run', id: '*' }) },
    handler: async (c) => {
      const q = c.req.valid('query')
      const limit = q.limit ?? 50
      const after = parseCursor(q.cursor)
      const states = parseStates(q.state)
      // The store lists newest first with a limit; page past the cursor by asking for enough.
      const all = await c.get('deps').client.listRuns({
        ...(states === undefined ? {} : { state: states }),
        ...(q.workflow === undefined ? {} : { workflow: q.workflow }),
        ...(q.parentRunId === undefined ? {} : { parentRunId: q.parentRunId }),
        limit: 10_000,
      })
      const rest =
        after === undefined
          ? all
          : all.filter((r) => r.createdAt < after.at || (r.createdAt === after.at && r.id < after.id))
      const page = rest.slice(0, limit)
      const last = page.at(-1)
      const nextCursor = rest.length > limit && last !== undefined ? `${last.createdAt}:${last.id}` : null
      return c.json({ runs: page.map(runView), nextCursor }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/runs/{id}',
      tags: ['runs'],
      summary: 'One run',
      request: { params: RunId },
      responses: { 200: json(RunSchema, 'The run'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'run', id: p.id ?? '' }) },
    handler: async (c) => c.json(runView(await c.get('deps').client.getRun(c.req.valid('param').id)), 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/runs/{id}/tasks',
      tags: ['runs'],
      summary: 'The tasks of a run with their states, outputs and errors',
      request: { params: RunId },
      responses: { 200: json(z.object({ tasks: z.array(TaskSchema) }), 'Its tasks'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'run', id: p.id ?? '' }) },
    handler: async (c) => {
      const client = c.get('deps').client
      const { id } = c.req.valid('param')
      await client.getRun(id)
      return c.json({ tasks: (await client.getTasks(id)).map(taskView) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/runs/{id}/events',
      tags: ['runs'],
      summary: 'The stored events of a run, from a position',
      request: {
        params: RunId,
        query: z.object({
          afterSeq: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(1000).optional(),
        }),
      },
      responses: { 200: json(z.object({ events: z.array(StoredEventSchema) }), 'Events'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'run', id: p.id ?? '' }) },
    handler: async (c) => {
      const client = c.get('deps').client
      const { id } = c.req.valid('param')
      const q = c.req.valid('query')
      await client.getRun(id)
      const events = await client.listEvents(id, { afterSeq: q.afterSeq ?? 0, limit: q.limit ?? 500 })
      return c.json({ events: events.map((e) => ({ seq: e.seq, event: { ...e.event } })) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/runs/{id}/replay',
      tags: ['runs'],
      summary:
        'A new run from this one: keep its results except the tasks named in from, changed by set, and their downstream',
      request: {
        params: RunId,
        body: optionalJson(
          z
            .object({
              from: z.array(z.string().min(1).max(200)).max(1000).optional(),
              set: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
              input: z.unknown().optional(),
              children: z.enum(['keep', 'rerun']).optional().openapi({
                description:
                  'Tasks that ran child runs: keep their stored outputs (default), or rerun them so that they plan new child runs',
              }),
            })
            .strict(),
        ),
      },
      responses: { 201: json(RunSchema, 'The new run, stored for workers to take'), ...errorResponses },
    }),
    access: { action: 'replay', resource: (p) => ({ kind: 'run', id: p.id ?? '' }) },
    audit: 'run.replay',
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const body = (c.req.valid('json') ?? {}) as ReplayOptions
      const client = c.get('deps').client
      const newId = await client.replay(id, body, { actor: c.get('principal')?.name ?? 'unknown' })
      c.header('Location', `/api/v1/runs/${newId}`)
      return c.json(runView(await client.getRun(newId)), 201)
    },
  }),
  control('pause', 'Pause a run wherever it executes'),
  control('resume', 'Resume a paused run'),
  control('cancel', 'Cancel a run; running handlers see their signal abort'),
]
