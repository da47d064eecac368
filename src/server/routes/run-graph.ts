import { createRoute, z } from '@hono/zod-openapi'
import type { WorkflowSpec } from '../../workflows/spec.js'
import { compileWorkflow } from '../../workflows/compile.js'
import { apiRoute } from '../api-route.js'
import { errorResponses, IdParam, json } from '../schemas.js'

/** A task of a run's graph: what it runs, what it waits for, its input as declared. */
const GraphTaskSchema = z
  .object({
    taskId: z.string(),
    agent: z.string().nullable().openapi({ description: 'The agent it names, or null for a capability' }),
    capability: z.string().nullable(),
    dependsOn: z.array(z.string()).openapi({ description: 'Tasks it waits for (references included)' }),
    priority: z.string(),
    input: z.unknown().openapi({ description: 'The input as the definition declares it, references unresolved' }),
    when: z.string().nullable(),
    maxAttempts: z.number(),
  })
  .openapi('GraphTask')

/** `GET /runs/{id}/graph`: the dependency graph of a run, from the definition it is pinned to. */
export const runGraphRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/runs/{id}/graph',
      tags: ['runs'],
      summary: 'The dependency graph of a run (patterns expanded), from the definition the run is pinned to',
      request: {
        params: z.object({ id: IdParam.openapi({ param: { name: 'id', in: 'path' }, example: 'run_m1abc' }) }),
      },
      responses: {
        200: json(
          z.object({ workflow: z.string(), tasks: z.array(GraphTaskSchema) }),
          'Its tasks, each after those it waits for',
        ),
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'run', id: p.id ?? '' }) },
    handler: async (c) => {
      const record = await c.get('deps').client.getRun(c.req.valid('param').id)
      const workflow = compileWorkflow(record.definition as WorkflowSpec)
      const tasks = Array.from(workflow.order, (i) => workflow.tasks[i] as (typeof workflow.tasks)[number]).map(
        (t) => ({
          taskId: t.id,
          agent: 'agent' in t.selector ? t.selector.agent : null,
          capability: 'capability' in t.selector ? t.selector.capability : null,
          dependsOn: Array.from(t.deps, (i) => workflow.tasks[i]?.id ?? String(i)),
          priority: t.priority,
          input: t.spec.input ?? null,
          when: t.spec.when ?? null,
          maxAttempts: t.retry.maxAttempts,
        }),
      )
      return c.json({ workflow: record.workflow, tasks }, 200)
    },
  }),
]
