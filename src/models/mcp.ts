import type { Readable } from 'node:stream'
import { FlotillaError, isFlotillaError } from '../core/errors.js'

/** An MCP server started as a child process, spoken to over its stdin and stdout. */
export interface McpStdioServer {
  /** Name of the server: its tools are `mcp:<name>/<tool>`. */
  name: string
  command: string
  args?: readonly string[]
  /** Added to a minimal environment (PATH, HOME…); the parent's secrets are not passed on. */
  env?: Readonly<Record<string, string>>
  cwd?: string
}

/** An MCP server reached over streamable HTTP. */
export interface McpHttpServer {
  name: string
  /** Its endpoint, e.g. `http://127.0.0.1:3000/mcp`. */
  url: string
  headers?: Readonly<Record<string, string>>
}

/** An MCP server an agent takes tools from. */
export type McpServer = McpStdioServer | McpHttpServer

/** One tool of an MCP server. */
export interface McpTool {
  server: string
  name: string
  description?: string
  /** JSON Schema of its arguments. */
  inputSchema: Record<string, unknown>
}

/** An open connection to an MCP server. */
export interface McpSession {
  readonly server: string
  tools(): Promise<McpTool[]>
  /** Calls a tool: its structured content, else its text; an error result or a dead server is `MCP_FAILED`. */
  call(tool: string, args: unknown, signal: AbortSignal): Promise<unknown>
  close(): Promise<void>
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$/

/** Refuses a malformed list of servers (`AGENT_INVALID`). */
export function checkMcpServers(agent: string, servers: unknown): void {
  if (servers === undefined) return
  const bad = (what: string): never => {
    throw new FlotillaError('AGENT_INVALID', `Agent "${agent}": ${what}.`, { details: { agent } })
  }
  if (!Array.isArray(servers)) bad('mcp must be a list of servers { name, command, args? } or { name, url }')
  const seen = new Set<string>()
  for (const s of servers as unknown[]) {
    const o = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>
    if (typeof o.name !== 'string' || !NAME.test(o.name))
      bad(`an MCP server needs a name of 1–32 letters, digits, "_" or "-" (got ${JSON.stringify(o.name)})`)
    if (seen.has(o.name as string)) bad(`two MCP servers are named "${String(o.name)}"`)
    seen.add(o.name as string)
    const http = typeof o.url === 'string'
    if (http === (typeof o.command === 'string'))
      bad(`MCP server "${String(o.name)}" needs either a command (stdio) or a url (streamable HTTP)`)
    if (http && !/^https?:\/\//.test(o.url as string))
      bad(`MCP server "${String(o.name)}": url must start with http:// or https://`)
  }
}

function failed(server: string, what: string, cause?: unknown): FlotillaError {
  const why = cause instanceof Error ? `: ${cause.message}` : ''
  return new FlotillaError('MCP_FAILED', `MCP server "${server}" ${what}${why}`, { details: { server }, cause })
}

/**
 * Connects to an MCP server (starting it, for stdio) with the official SDK.
 * A server that cannot be started or reached is `MCP_FAILED`, with the last
 * lines it wrote on stderr.
 */
export async function connectMcp(spec: McpServer, signal?: AbortSignal): Promise<McpSession> {
  // The SDK is loaded when an agent first connects: a process without MCP servers never loads it.
  const [{ Client }, { getDefaultEnvironment, StdioClientTransport }, { StreamableHTTPClientTransport }] =
    await Promise.all([
      import('@modelcontextprotocol/sdk/client/index.js'),
      import('@modelcontextprotocol/sdk/client/stdio.js'),
      import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    ])
  const client = new Client({ name: 'flotilla', version: '1' })
  let stderr = ''
  const transport =
    'url' in spec
      ? new StreamableHTTPClientTransport(
          new URL(spec.url),
          spec.headers === undefined ? {} : { requestInit: { headers: { ...spec.headers } } },
        )
      : new StdioClientTransport({
          command: spec.command,
          args: [...(spec.args ?? [])],
          env: { ...getDefaultEnvironment(), ...(spec.env ?? {}) },
          stderr: 'pipe',
          ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        })
  if (transport instanceof StdioClientTransport) {
    ;(transport.stderr as Readable | null)?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000)
    })
  }
  let closed = false
  transport.onclose = () => {
    closed = true
  }
  try {
    await client.connect(transport, signal === undefined ? {} : { signal })
  } catch (e) {
    await client.close().catch(() => undefined)
    throw failed(
      spec.name,
      `could not be ${'url' in spec ? `reached at ${spec.url}` : `started (${spec.command})`}${stderr ? ` — it wrote: ${stderr.trim()}` : ''}`,
      e,
    )
  }
  return {
    server: spec.name,
    async tools() {
      try {
        const { tools } = await client.listTools()
        return tools.map((t) => ({
          server: spec.name,
          name: t.name,
          ...(t.description === undefined ? {} : { description: t.description }),
          inputSchema: t.inputSchema as Record<string, unknown>,
        }))
      } catch (e) {
        throw failed(spec.name, 'did not list its tools', e)
      }
    },
    async call(tool, args, callSignal) {
      if (closed)
        throw failed(
          spec.name,
          `is gone (it exited or closed the connection) before the call of "${tool}"${stderr ? ` — it wrote: ${stderr.trim()}` : ''}`,
        )
      let result: Awaited<ReturnType<typeof client.callTool>>
      try {
        result = await client.callTool({ name: tool, arguments: (args ?? {}) as Record<string, unknown> }, undefined, {
          signal: callSignal,
        })
      } catch (e) {
        if (callSignal.aborted || isFlotillaError(e)) throw e
        throw failed(
          spec.name,
          closed
            ? `died during the call of "${tool}"${stderr ? ` — it wrote: ${stderr.trim()}` : ''}`
            : `failed the call of "${tool}"`,
          e,
        )
      }
      const content = (result.content ?? []) as { type: string; text?: string }[]
      const text = content
        .filter((c) => c.type === 'text')
        .map((c) => c.text ?? '')
        .join('\n')
      if (result.isError === true)
        throw new FlotillaError(
          'MCP_FAILED',
          `MCP tool "${spec.name}/${tool}" reported an error: ${text || 'no message'}`,
          { details: { server: spec.name, tool }, retryable: false },
        )
      return result.structuredContent ?? text
    },
    async close() {
      await client.close().catch(() => undefined)
    },
  }
}

/** The name a model sees for an MCP tool: `mcp__<server>__<tool>`, in the characters every provider accepts, at most 64. */
export function mcpToolName(server: string, tool: string): string {
  return `mcp__${server}__${tool}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64)
}
