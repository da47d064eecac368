import { createHash } from 'node:crypto'
import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import { compileWorkflow, validateWorkflowSpec, type Workflow } from '../../workflows/compile.js'
import type { WorkflowSpec } from '../../workflows/spec.js'
import { apiRoute } from '../api-route.js'
import { optionalJson, errorResponses, IdParam, json, RunSchema } from '../schemas.js'
import type { ServerEnv } from '../server-deps.js'
import { resolveRunInput } from '../../orchestrator/inputs.js'
import { runView } from './runs.js'

const WorkflowSummary = z
  .object({ name: z.string(), hash: z.string(), tasks: z.number(), description: z.string().nullable() })
  .openapi('WorkflowSummary')
const WorkflowDetail = WorkflowSummary.extend({ spec: z.record(z.string(), z.unknown()) }).openapi('Workflow')
const Problem = z.object({ code: z.string(), where: z.string(), message: z.string() }).openapi('WorkflowProblem')
const StartBody = z
  .object({
    input: z.unknown().optional().openapi({ description: 'The run input (the workflow declares its inputs)' }),
    debug: z
      .boolean()
      .optional()
      .openapi({ description: 'Debug mode: traces keep whole model answers, tool results and conversations' }),
    breakOnError: z.boolean().optional().openapi({
      description:
        'Break on error: the run goes PAUSED at a task about to fail for good (run.paused, reason "break on error"); resume retries it',
    }),
  })
  .strict()
const InlineStartBody = z
  .object({
    workflow: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'A workflow definition (the YAML file as JSON)' }),
    input: z.unknown().optional(),
    debug: z
      .boolean()
      .optional()
      .openapi({ description: 'Debug mode: traces keep whole model answers, tool results and conversations' }),
    breakOnError: z.boolean().optional().openapi({
      description:
        'Break on error: the run goes PAUSED at a task about to fail for good (run.paused, reason "break on error"); resume retries it',
    }),
  })
  .strict()
const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: 'A retried start with the same key (and API key) starts one run and returns it again' }),
})
const Name = z.object({ name: IdParam.openapi({ param: { name: 'name', in: 'path' }, example: 'nightly-report' }) })

function summary(wf: Workflow) {
  const description = (wf.spec as { description?: unknown }).description
  return {
    name: wf.name,
    hash: wf.hash,
    tasks: wf.tasks.length,
    description: typeof description === 'string' ? description : null,
  }
}

/**
 * Starts `wf` once per idempotency key: the run id is derived from the key
 * and the API key, so a retried POST finds the run the first one stored.
 */
async function start(
  c: Context<ServerEnv>,
  wf: Workflow,
  input: unknown,
  idempotencyKey: string | undefined,
  debug: { debug?: boolean | undefined; breakOnError?: boolean | undefined } = {},
) {
  const client = c.get('deps').client
  const principal = c.get('principal')
  const runId =
    idempotencyKey === undefined
      ? undefined
      : `run_idem_${createHash('sha256')
          .update(`${principal?.keyId ?? '-'}\u0000${idempotencyKey}`)
          .digest('hex')
          .slice(0, 32)}`
  if (runId !== undefined) {
    const existing = await client.getRun(runId).catch(() => undefined)
    if (existing !== undefined) {
      if (
        existing.workflowHash !== wf.hash ||
        JSON.stringify(existing.input) !== JSON.stringify(resolveRunInput(wf, input))
      )
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `Idempotency-Key "${idempotencyKey}" was used to start workflow "${existing.workflow}" with another input; use a new key for another start.`,
          { details: { field: 'Idempotency-Key', runId } },
        )
      c.header('Idempotent-Replayed', 'true')
      return c.json(runView(existing), 200)
    }
  }
  let id: string
  try {
    id = await client.start(wf, input, {
      ...(runId === undefined ? {} : { runId }),
      actor: principal?.name ?? 'unknown',
      ...(debug.debug === true ? { debug: true } : {}),
      ...(debug.breakOnError === true ? { breakOnError: true } : {}),
    })
  } catch (e) {
    // Two retries racing: the second finds the run the first stored.
    if (runId !== undefined && isFlotillaError(e) && e.code === 'STORE_CONFLICT') {
      c.header('Idempotent-Replayed', 'true')
      return c.json(runView(await client.getRun(runId)), 200)
    }
    throw e
  }
  c.header('Location', `/api/v1/runs/${id}`)
  return c.json(runView(await client.getRun(id)), 201)
}

/** Workflows (the catalog of named ones) and starting runs. */
export const workflowRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/workflows',
      tags: ['workflows'],
      summary: 'The named workflows this server can start',
      responses: { 200: json(z.object({ workflows: z.array(WorkflowSummary) }), 'The catalog'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'workflow', name: '*' }) },
    handler: (c) => c.json({ workflows: c.get('deps').workflows.list().map(summary) }, 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/workflows/{name}',
      tags: ['workflows'],
      summary: 'One workflow with its definition',
      request: { params: Name },
      responses: { 200: json(WorkflowDetail, 'The workflow'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'workflow', name: p.name ?? '' }) },
    handler: (c) => {
      const wf = c.get('deps').workflows.get(c.req.valid('param').name)
      return c.json({ ...summary(wf), spec: { ...wf.spec } as Record<string, unknown> }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/workflows/validate',
      tags: ['workflows'],
      summary: 'Check a workflow definition; every problem at once',
      request: {
        body: { required: true, content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } },
      },
      responses: {
        200: json(z.object({ ok: z.boolean(), problems: z.array(Problem) }), 'The problems (none: it is valid)'),
        ...errorResponses,
      },
    }),
    access: { action: 'validate', resource: () => ({ kind: 'workflow', name: '*' }) },
    handler: (c) => {
      const problems = validateWorkflowSpec(c.req.valid('json'))
      return c.json({ ok: problems.length === 0, problems }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/workflows/{name}/runs',
      tags: ['workflows'],
      summary: 'Start a run of a named workflow',
      request: {
        params: Name,
        headers: IdempotencyHeader,
        body: optionalJson(StartBody),
      },
      responses: {
        201: json(RunSchema, 'The run, stored for workers to take'),
        200: json(RunSchema, 'The run an earlier request with this Idempotency-Key started'),
        ...errorResponses,
      },
    }),
    access: { action: 'start', resource: (p) => ({ kind: 'workflow', name: p.name ?? '' }) },
    audit: 'run.start',
    handler: async (c) => {
      const wf = c.get('deps').workflows.get(c.req.valid('param').name)
      const body = c.req.valid('json') as { input?: unknown; debug?: boolean; breakOnError?: boolean } | undefined
      return start(c, wf, body?.input, c.req.valid('header')['idempotency-key'], body ?? {})
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/runs',
      tags: ['runs'],
      summary: 'Start a run of a workflow given in the request',
      request: {
        headers: IdempotencyHeader,
        body: { required: true, content: { 'application/json': { schema: InlineStartBody } } },
      },
      responses: {
        201: json(RunSchema, 'The run, stored for workers to take'),
        200: json(RunSchema, 'The run an earlier request with this Idempotency-Key started'),
        ...errorResponses,
      },
    }),
    access: { action: 'start', resource: () => ({ kind: 'workflow', name: '*' }) },
    audit: 'run.start',
    handler: async (c) => {
      const body = c.req.valid('json')
      const wf = compileWorkflow(body.workflow as unknown as WorkflowSpec)
      return start(c, wf, body.input, c.req.valid('header')['idempotency-key'], body)
    },
  }),
]
