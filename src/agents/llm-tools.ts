import { connectMcp, mcpToolName, type McpServer, type McpSession } from '../models/mcp.js'
import type { ModelTool } from '../models/run-model.js'
import { defaultAuthorizer } from '../security/authorizer.js'
import type { PermissionSet } from '../security/permissions.js'
import type { AgentContext, AttemptTrace } from './context.js'
import { createToolBox, type AnyToolDefinition } from './tools.js'

/** A tool result as a trace shows it: JSON, cut at 2,000 characters (whole in debug mode). */
function excerpt(value: unknown, full: boolean): string {
  const text = JSON.stringify(value) ?? 'undefined'
  return text.length > 2000 && !full ? `${text.slice(0, 2000)}…` : text
}

/**
 * Runs a tool call in an `execute_tool <name>` span (OpenTelemetry GenAI
 * conventions), the child of the attempt's span.
 */
async function tracedTool(trace: AttemptTrace, callId: string, tool: string, run: () => Promise<unknown>) {
  const span = trace.startSpan(`execute_tool ${tool}`, {
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool, 'gen_ai.tool.call.id': callId },
  })
  try {
    const value = await run()
    span.setStatus({ code: 1 })
    return value
  } catch (e) {
    const code = (e as { code?: unknown }).code
    span.setAttribute('error.type', typeof code === 'string' ? code : e instanceof Error ? e.name : 'Error')
    span.recordException(e instanceof Error ? e : String(e))
    span.setStatus({ code: 2, message: e instanceof Error ? e.message : String(e) })
    throw e
  } finally {
    span.end()
  }
}

/** What a language-model agent's task offers its model. */
export interface TaskTools {
  readonly tools: readonly ModelTool[]
  /** Closes the MCP sessions opened for the task. */
  close(): Promise<void>
}

/** What a task of an agent without tools or MCP servers offers: nothing, with no tool box built for it. */
const NO_TOOLS: TaskTools = { tools: Object.freeze([]), close: () => Promise.resolve() }

/**
 * The tools of one task of a language-model agent: its own tools (through
 * the permission-checked tool box) and those of its MCP servers (connected
 * for this task, permission `tool:mcp:<server>/<tool>`). Each call is a
 * durable step (`tool:<call id>`): a call whose result was kept before a
 * crash is not run again when its model call is replayed. Each result is a
 * `tool result` log line, for traces; with a tracer, each call run is an
 * `execute_tool <name>` span (a replayed one is not reported again).
 */
export async function taskTools(
  ctx: AgentContext,
  agent: string,
  permissions: PermissionSet,
  own: ReadonlyMap<string, AnyToolDefinition>,
  servers: readonly McpServer[],
): Promise<TaskTools> {
  if (own.size === 0 && servers.length === 0) return NO_TOOLS
  const durable = async (callId: string, tool: string, run: () => Promise<unknown>, name = tool): Promise<unknown> => {
    const trace = ctx.trace
    try {
      const value = await ctx.step(
        `tool:${callId}`,
        trace === undefined ? run : () => tracedTool(trace, callId, name, run),
      )
      ctx.log.info('tool result', { callId, tool, ok: true, result: excerpt(value, ctx.debug === true) })
      return value
    } catch (e) {
      ctx.log.warn('tool result', { callId, tool, ok: false, error: e instanceof Error ? e.message : String(e) })
      throw e
    }
  }
  const box = createToolBox({
    tools: own,
    names: [...own.keys()],
    permissions,
    agent,
    instanceId: ctx.instanceId,
    workspace: ctx.workspace,
    signal: ctx.signal,
    onEvent: (e) =>
      e.type === 'permission.denied' ? ctx.log.warn('permission denied', e.data) : ctx.log.debug(e.type, e.data),
  })
  const tools: ModelTool[] = [...own.values()].map((t) => ({
    name: t.name,
    ...(t.description === undefined ? {} : { description: t.description }),
    ...(t.input === undefined ? {} : { input: t.input }),
    execute: (args, call) => durable(call.callId, t.name, () => box.call(t.name, args)),
  }))
  const sessions: McpSession[] = []
  const close = async (): Promise<void> => {
    await Promise.all(sessions.map((s) => s.close()))
  }
  try {
    for (const s of servers) sessions.push(await connectMcp(s, ctx.signal))
    for (const session of sessions) {
      for (const t of await session.tools()) {
        const resource = `mcp:${t.server}/${t.name}`
        tools.push({
          name: mcpToolName(t.server, t.name),
          description: t.description ?? `${t.name} (MCP server ${t.server})`,
          jsonSchema: t.inputSchema,
          execute: (args, call) =>
            durable(
              call.callId,
              resource,
              async () => {
                defaultAuthorizer.authorize(
                  { name: agent, permissions },
                  { kind: 'tool', name: resource },
                  'call',
                  (d) => {
                    ctx.log.warn('permission denied', {
                      agent,
                      resource: d.resource,
                      action: d.action,
                      reason: d.reason,
                    })
                  },
                )
                return session.call(t.name, args, call.signal)
              },
              mcpToolName(t.server, t.name),
            ),
        })
      }
    }
  } catch (e) {
    await close()
    throw e
  }
  return { tools, close }
}
