import { createRoute, z } from '@hono/zod-openapi'
import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import type { Action } from '../../security/authorizer.js'
import { apiRoute } from '../api-route.js'
import { AgentInfoSchema, MailMessageSchema, ResourceLimitsSchema } from '../agent-schemas.js'
import { agentDirectory, heldAgent, requireHost } from '../deployed-access.js'
import { errorResponses, json, optionalJson } from '../schemas.js'
import { AgentIdParam, agentView } from './deployed-agents.js'

const agentAccess = (action: Action) => ({
  action,
  resource: (p: Readonly<Record<string, string>>) => ({ kind: 'agent' as const, name: p.id ?? '' }),
})

const lifecycle = (action: 'pause' | 'resume' | 'restart', summary: string) =>
  apiRoute({
    config: createRoute({
      method: 'post',
      path: `/deployed-agents/{id}/${action}`,
      tags: ['deployed agents'],
      summary,
      request: { params: AgentIdParam, body: optionalJson(z.object({}).strict()) },
      responses: { 200: json(AgentInfoSchema, 'The agent after the change'), ...errorResponses },
    }),
    access: agentAccess(action),
    audit: `agent.${action}`,
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const { agents } = await heldAgent(c, id)
      const info =
        action === 'pause'
          ? await agents.pause(id)
          : action === 'resume'
            ? await agents.resume(id)
            : await agents.restart(id)
      return c.json(agentView(info), 200)
    },
  })

/** Deployed agents this server governs: lifecycle, limits, commands and mailboxes. */
export const deployedControlRoutes = [
  lifecycle('pause', 'RUNNING → PAUSED: the agent takes no commands until resumed'),
  lifecycle('resume', 'PAUSED → RUNNING'),
  lifecycle('restart', 'FAILED → PENDING → RUNNING: start a failed agent again (same id, spec and workspace)'),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/deployed-agents/{id}/scale',
      tags: ['deployed agents'],
      summary: 'New resource limits, within its parent’s and not below any child’s',
      request: {
        params: AgentIdParam,
        body: {
          required: true,
          content: { 'application/json': { schema: z.object({ limits: ResourceLimitsSchema }).strict() } },
        },
      },
      responses: { 200: json(AgentInfoSchema, 'The agent with its new limits'), ...errorResponses },
    }),
    access: agentAccess('scale'),
    audit: 'agent.scale',
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const { agents } = await heldAgent(c, id)
      const { limits } = c.req.valid('json')
      c.set('auditDetails', { limits })
      return c.json(agentView(await agents.scale(id, limits)), 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/deployed-agents/{id}/terminate',
      tags: ['deployed agents'],
      summary: 'Terminate the agent and its subtree, children first; idempotent',
      request: {
        params: AgentIdParam,
        body: optionalJson(z.object({ reason: z.string().max(500).optional() }).strict()),
      },
      responses: { 200: json(AgentInfoSchema, 'The agent, TERMINATED'), ...errorResponses },
    }),
    access: agentAccess('terminate'),
    audit: 'agent.terminate',
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const given = (c.req.valid('json') as { reason?: string } | undefined)?.reason
      const dir = agentDirectory(c.get('deps'))
      const stored = await dir.status(id)
      if (stored.state === 'TERMINATED') return c.json(agentView(stored), 200) // idempotent, whoever terminated it
      const { agents } = await heldAgent(c, id)
      await agents.terminate(id, given !== undefined && given !== '' ? given : 'terminated through the API')
      return c.json(agentView(await agents.status(id)), 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/deployed-agents/{id}/execute',
      tags: ['deployed agents'],
      summary: 'Run a command: the agent’s handler on input; answers with its output',
      request: {
        params: AgentIdParam,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({
                  input: z.unknown().optional(),
                  timeoutMs: z.number().int().min(1).max(600_000).optional().openapi({ description: 'Default 60000' }),
                })
                .strict(),
            },
          },
        },
      },
      responses: { 200: json(z.object({ output: z.unknown() }), 'What the handler returned'), ...errorResponses },
    }),
    access: agentAccess('execute'),
    audit: 'agent.execute',
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const { agents } = await heldAgent(c, id)
      const body = c.req.valid('json')
      const output = await agents.execute(id, body.input, { timeoutMs: body.timeoutMs ?? 60_000 })
      return c.json({ output: output === undefined ? null : output }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/deployed-agents/{id}/messages',
      tags: ['deployed agents'],
      summary: 'Put a message in the agent’s mailbox (its ctx.receive reads it)',
      request: {
        params: AgentIdParam,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({
                  message: z.unknown().openapi({ description: 'Any JSON value' }),
                  headers: z.record(z.string().max(200), z.string().max(2000)).optional(),
                })
                .strict(),
            },
          },
        },
      },
      responses: { 201: json(z.object({ id: z.string() }), 'The message id'), ...errorResponses },
    }),
    access: agentAccess('send'),
    audit: 'agent.send',
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const host = requireHost(c)
      const { info } = await heldAgent(c, id)
      const body = c.req.valid('json')
      const from = `key:${c.get('principal')?.keyId ?? 'unknown'}`
      const messageId = await host.bus.send(info.name, body.message === undefined ? null : body.message, {
        from,
        ...(body.headers === undefined ? {} : { headers: body.headers }),
      })
      c.set('auditDetails', { message: messageId, to: info.name })
      return c.json({ id: messageId }, 201)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'post',
      path: '/deployed-agents/{id}/messages/receive',
      tags: ['deployed agents'],
      summary:
        'Take messages from the agent’s mailbox (acknowledged unless ack is false: then they come back after the visibility timeout)',
      request: {
        params: AgentIdParam,
        body: optionalJson(
          z
            .object({
              max: z.number().int().min(1).max(100).optional().openapi({ description: 'Default 10' }),
              ack: z.boolean().optional().openapi({ description: 'Remove them from the mailbox (default true)' }),
              visibilityTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
            })
            .strict(),
        ),
      },
      responses: {
        200: json(z.object({ messages: z.array(MailMessageSchema) }), 'Messages, oldest first'),
        ...errorResponses,
      },
    }),
    access: agentAccess('receive'),
    audit: 'agent.receive',
    handler: async (c) => {
      const { id } = c.req.valid('param')
      const host = requireHost(c)
      const { info } = await heldAgent(c, id)
      const body = (c.req.valid('json') ?? {}) as { max?: number; ack?: boolean; visibilityTimeoutMs?: number }
      let messages
      try {
        messages = await host.bus.receive(info.name, {
          max: body.max ?? 10,
          ...(body.visibilityTimeoutMs === undefined ? {} : { visibilityTimeoutMs: body.visibilityTimeoutMs }),
        })
      } catch (e) {
        if (isFlotillaError(e) && e.code === 'BUS_CLOSED')
          throw new FlotillaError('AGENT_HOST_DISABLED', 'The server is stopping; its mailboxes are closed.')
        throw e
      }
      if (body.ack !== false) for (const m of messages) await host.bus.ack(info.name, m.id)
      c.set('auditDetails', { messages: messages.length })
      return c.json({ messages: messages.map((m) => ({ ...m, headers: { ...m.headers } })) }, 200)
    },
  }),
]
