import { createRoute, z } from '@hono/zod-openapi'
import { FlotillaError } from '../../core/errors.js'
import { asAgentId } from '../../core/ids.js'
import { AGENT_STATES, type AgentState } from '../../core/states.js'
import type { AgentInfo, AgentTreeNode } from '../../runtimes/supervisor-types.js'
import { apiRoute } from '../api-route.js'
import { AgentInfoSchema, AgentTransitionSchema, AgentTreeSchema, AgentUsageSchema } from '../agent-schemas.js'
import { agentDirectory, heldAgent, requireHost } from '../deployed-access.js'
import { errorResponses, IdParam, json } from '../schemas.js'

/** The path parameter of a deployed agent. */
export const AgentIdParam = z.object({
  id: IdParam.openapi({ param: { name: 'id', in: 'path' }, example: 'agt_m1abc' }),
})

/** A deployed agent as the API shows it. */
export function agentView(info: AgentInfo) {
  return {
    ...info,
    permissions: info.permissions.map((p) => ({ resource: p.resource, actions: [...p.actions] })),
    limits: { ...info.limits },
    capabilities: [...info.capabilities],
    tags: [...info.tags],
  }
}

function treeView(node: AgentTreeNode): ReturnType<typeof agentView> & { children: unknown[] } {
  const { children, ...info } = node
  return { ...agentView(info), children: children.map(treeView) }
}

const DeployBody = z
  .object({
    spec: z.record(z.string(), z.unknown()).openapi({
      description:
        'An agent spec (the .agent.json/.yaml file as JSON), validated by the agent spec schema; module paths are relative to the server’s agent modules folder',
      example: { name: 'echo', module: 'echo.mjs' },
    }),
    parentId: IdParam.optional().openapi({ description: 'Deploy as a child of this agent (held by this server)' }),
    runtime: z
      .enum(['process', 'inprocess', 'kubernetes'])
      .optional()
      .openapi({ description: 'Overrides the spec’s runtime (kubernetes: the server was started with --kubernetes)' }),
  })
  .strict()

const ListQuery = z.object({
  state: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: `Comma-separated states: ${AGENT_STATES.join(', ')}` }),
  name: z.string().max(200).optional(),
  parentId: z.string().max(200).optional().openapi({ description: 'An agent id, or "none" for root agents only' }),
})

function parseStates(text: string | undefined): AgentState[] | undefined {
  if (text === undefined || text === '') return undefined
  const states = text.split(',').map((s) => s.trim().toUpperCase())
  for (const s of states)
    if (!(AGENT_STATES as readonly string[]).includes(s))
      throw new FlotillaError('VALIDATION_FAILED', `state must be among ${AGENT_STATES.join(', ')}; got "${s}".`, {
        details: { field: 'state' },
      })
  return states as AgentState[]
}

/** Deployed agents: deploy, and the reads every process's agents answer (list, show, tree, transitions, usage). */
export const deployedAgentRoutes = [
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/deployed-agents',
      tags: ['deployed agents'],
      summary: 'Deploy an agent from a spec; resolves once it is RUNNING (this server then governs it)',
      request: { body: { required: true, content: { 'application/json': { schema: DeployBody } } } },
      responses: { 201: json(AgentInfoSchema, 'The agent, RUNNING'), ...errorResponses },
    }),
    access: { action: 'deploy', resource: () => ({ kind: 'agent', name: '*' }) },
    audit: 'agent.deploy',
    handler: async (c) => {
      const host = requireHost(c)
      const body = c.req.valid('json')
      const spec = host.parseSpec(body.spec)
      const info = await host.agents.deploy(spec, {
        ...(body.parentId === undefined ? {} : { parentId: body.parentId }),
        ...(body.runtime === undefined ? {} : { runtime: body.runtime }),
      })
      c.set('auditDetails', { agent: info.id, name: info.name, runtime: info.runtime })
      c.header('Location', `/api/v1/deployed-agents/${info.id}`)
      return c.json(agentView(info), 201)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/deployed-agents',
      tags: ['deployed agents'],
      summary: 'Deployed agents of every process on the store, oldest first',
      request: { query: ListQuery },
      responses: { 200: json(z.object({ agents: z.array(AgentInfoSchema) }), 'Agents'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'agent', name: '*' }) },
    handler: async (c) => {
      const q = c.req.valid('query')
      const states = parseStates(q.state)
      const principal = c.get('principal')
      const listed = await agentDirectory(c.get('deps')).list({
        ...(states === undefined ? {} : { states }),
        ...(q.name === undefined ? {} : { name: q.name }),
        ...(q.parentId === undefined ? {} : { parentId: q.parentId === 'none' ? null : q.parentId }),
      })
      const visible = listed.filter((a) => principal?.permissions.allows(`agent:${a.id}`, 'read') ?? true)
      return c.json({ agents: visible.map(agentView) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/deployed-agents/{id}',
      tags: ['deployed agents'],
      summary: 'One deployed agent (of any process on the store)',
      request: { params: AgentIdParam },
      responses: { 200: json(AgentInfoSchema, 'The agent'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.id ?? '' }) },
    handler: async (c) => c.json(agentView(await agentDirectory(c.get('deps')).status(c.req.valid('param').id)), 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/deployed-agents/{id}/tree',
      tags: ['deployed agents'],
      summary: 'A deployed agent with all its descendants',
      request: { params: AgentIdParam },
      responses: { 200: json(AgentTreeSchema, 'The tree'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.id ?? '' }) },
    handler: async (c) => c.json(treeView(await agentDirectory(c.get('deps')).tree(c.req.valid('param').id)), 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/deployed-agents/{id}/transitions',
      tags: ['deployed agents'],
      summary: 'Every stored lifecycle transition of a deployed agent, oldest first',
      request: { params: AgentIdParam },
      responses: {
        200: json(z.object({ transitions: z.array(AgentTransitionSchema) }), 'Transitions'),
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.id ?? '' }) },
    handler: async (c) => {
      const deps = c.get('deps')
      const { id } = c.req.valid('param')
      await agentDirectory(deps).status(id)
      const transitions = await deps.client.store.listAgentTransitions(asAgentId(id))
      return c.json({ transitions: transitions.map(({ agentId: _a, ...t }) => t) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/deployed-agents/{id}/usage',
      tags: ['deployed agents'],
      summary: 'What an agent this server governs uses now, with its command metrics',
      request: { params: AgentIdParam },
      responses: { 200: json(AgentUsageSchema, 'Usage'), ...errorResponses },
    }),
    access: { action: 'read', resource: (p) => ({ kind: 'agent', name: p.id ?? '' }) },
    handler: async (c) => {
      const { agents } = await heldAgent(c, c.req.valid('param').id)
      const usage = await agents.usage(c.req.valid('param').id)
      return c.json({ ...usage, metrics: { ...usage.metrics } }, 200)
    },
  }),
]
