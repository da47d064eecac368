import { createRoute, z } from '@hono/zod-openapi'
import { artifactLineage } from '../artifact-lineage.js'
import { apiRoute } from '../api-route.js'
import { errorResponses, json } from '../schemas.js'
import { ArtifactInfoSchema } from './context.js'

const LineageNodeSchema = z
  .object({
    id: z.string().openapi({ description: '`artifact:<id>@<version>` or `task:<runId>/<taskId>`' }),
    kind: z.enum(['artifact', 'task']),
    artifact: ArtifactInfoSchema.nullable().openapi({ description: 'The version (artifact nodes)' }),
    runId: z.string().nullable(),
    taskId: z.string().nullable(),
    agent: z.string().nullable().openapi({ description: 'The agent the task names, when the key may read its run' }),
    workflow: z.string().nullable().openapi({ description: 'The workflow of its run, when the key may read it' }),
  })
  .openapi('LineageNode')

const LineageEdgeSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    kind: z.enum(['wrote', 'revised', 'upstream']).openapi({
      description:
        'wrote: a task wrote a version; revised: a version based on an earlier one; upstream: in one run, the task `to` waited for the task `from` (its nearest writing ancestors)',
    }),
  })
  .openapi('LineageEdge')

/** `GET /lineage`: the artifacts' versions and the tasks that wrote them, as a graph. */
export const lineageRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/lineage',
      tags: ['context'],
      summary:
        'The lineage of the artifacts this key may read, as a graph: every kept version, the task that wrote it, the version it revised, and which writing task ran upstream of which',
      request: {
        query: z.object({
          prefix: z.string().max(500).optional().openapi({ description: 'Only artifacts whose id starts with this' }),
          run: z
            .string()
            .max(200)
            .optional()
            .openapi({ description: 'Only artifacts with a version written in this run' }),
          limit: z.coerce
            .number()
            .int()
            .min(1)
            .max(500)
            .optional()
            .openapi({ description: 'Most artifacts (default 100)' }),
        }),
      },
      responses: {
        200: json(
          z
            .object({ nodes: z.array(LineageNodeSchema), edges: z.array(LineageEdgeSchema), truncated: z.boolean() })
            .openapi('LineageGraph'),
          'The graph',
        ),
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: () => ({ kind: 'artifact', id: '*' }) },
    handler: async (c) => {
      const q = c.req.valid('query')
      const p = c.get('principal')
      const deps = c.get('deps')
      const graph = await artifactLineage(
        deps,
        {
          name: p?.name ?? 'anonymous',
          mayReadArtifact: (id) => p?.permissions.allows(`artifact:${id}`, 'read') === true,
          mayReadRun: (id) => p?.permissions.allows(`run:${id}`, 'read') === true,
        },
        {
          ...(q.prefix === undefined ? {} : { prefix: q.prefix }),
          ...(q.run === undefined ? {} : { runId: q.run }),
          ...(q.limit === undefined ? {} : { limit: q.limit }),
        },
      )
      return c.json(
        {
          ...graph,
          nodes: graph.nodes.map((n) => ({
            ...n,
            artifact:
              n.artifact === null
                ? null
                : { ...n.artifact, metadata: { ...n.artifact.metadata }, tags: [...n.artifact.tags] },
          })),
        },
        200,
      )
    },
  }),
]
