import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineLlmAgent, type LlmAgentConfig } from '../../src/agents/llm-agent.js'
import { scriptedModel, type ScriptStep } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import { toolResults } from '../helpers/model-calls.js'
// @ts-expect-error a JavaScript fixture without types
import { calcServer } from '../fixtures/mcp/calc-server.mjs'

// MCP tools in the tool loop: a real MCP server written with the official
// SDK, started by the test over stdio (a child process) and over streamable
// HTTP; permissions, error results and a server that dies mid-call.

const SERVER = new URL('../fixtures/mcp/calc-server.mjs', import.meta.url).pathname
const stdio = { name: 'calc', command: process.execPath, args: [SERVER] }

async function run(config: Omit<LlmAgentConfig<unknown, string, false>, 'name' | 'model'>, steps: ScriptStep[]) {
  const model = scriptedModel(steps)
  const o = new Orchestrator()
  await o.register(defineLlmAgent({ name: 'mcp-user', model, ...config }))
  const result = await o.run(workflow('m').task('t', { agent: 'mcp-user', input: 'go' }).build())
  await o.close()
  return { result, model }
}

describe('MCP servers as tool sources', () => {
  it("stdio: the server's tools reach the model as mcp__<server>__<tool> and run in the server process", async () => {
    const { result, model } = await run({ mcp: [stdio] }, [
      { toolCalls: [{ name: 'mcp__calc__multiply', input: { a: 6, b: 7 } }] },
      { text: 'It is 42.' },
    ])
    expect(result.output('t')).toBe('It is 42.')
    expect(model.calls[0].tools?.map((t) => t.name).sort()).toEqual([
      'mcp__calc__crash',
      'mcp__calc__fail',
      'mcp__calc__multiply',
    ])
    expect(toolResults(model.calls[1])).toEqual(['42'])
  })

  it('checks tool:mcp:<server>/<tool> permissions and feeds an error result back to the model', async () => {
    const permissions = [{ resource: 'tool:mcp:calc/fail', actions: ['call'] }]
    const { result, model } = await run({ mcp: [stdio], permissions }, [
      {
        toolCalls: [
          { name: 'mcp__calc__multiply', input: { a: 1, b: 2 } },
          { name: 'mcp__calc__fail', input: {} },
        ],
      },
      { text: 'Both failed.' },
    ])
    expect(result.state).toBe('SUCCEEDED')
    const [denied, failed] = toolResults(model.calls[1]) as { error: { code: string; message: string } }[]
    expect(denied.error.code).toBe('PERMISSION_DENIED')
    expect(failed.error).toMatchObject({ code: 'MCP_FAILED', message: expect.stringContaining('no luck today') })
  })

  it('a server that dies in the middle of a call is MCP_FAILED with what it wrote, given to the model', async () => {
    const { result, model } = await run({ mcp: [stdio] }, [
      { toolCalls: [{ name: 'mcp__calc__crash', input: {} }] },
      { text: 'The server died.' },
    ])
    expect(result.state).toBe('SUCCEEDED')
    const [crashed] = toolResults(model.calls[1]) as { error: { code: string; message: string } }[]
    expect(crashed.error.code).toBe('MCP_FAILED')
    expect(crashed.error.message).toMatch(/died during the call of "crash"|crashing now/)
  })

  it('a server that cannot start fails the task with MCP_FAILED, before any model call', async () => {
    const { result, model } = await run(
      { mcp: [{ name: 'ghost', command: process.execPath, args: ['/nonexistent/server.mjs'] }] },
      [{ text: 'never' }],
    )
    expect(result.tasks.t.error).toMatchObject({
      code: 'MCP_FAILED',
      message: expect.stringContaining('MCP server "ghost" could not be started'),
    })
    expect(model.calls).toHaveLength(0)
  })

  it('refuses malformed server lists (AGENT_INVALID)', () => {
    const model = scriptedModel([])
    expect(() => defineLlmAgent({ name: 'x', model, mcp: [{ name: 'a b', command: 'x' }] })).toThrow(
      expect.objectContaining({ code: 'AGENT_INVALID' }),
    )
    expect(() =>
      defineLlmAgent({
        name: 'x',
        model,
        mcp: [
          { name: 'a', command: 'x' },
          { name: 'a', url: 'http://h' },
        ],
      }),
    ).toThrow(/two MCP servers are named "a"/)
    expect(() => defineLlmAgent({ name: 'x', model, mcp: [{ name: 'a' } as never] })).toThrow(/either a command/)
  })

  describe('over streamable HTTP', () => {
    let http: Server
    let url = ''
    beforeAll(async () => {
      http = createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c))
        req.on('end', async () => {
          // Stateless: a server and transport per request.
          const server = calcServer() as { connect(t: unknown): Promise<void>; close(): Promise<void> }
          const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
          res.on('close', () => void server.close())
          await server.connect(transport)
          await transport.handleRequest(
            req,
            res,
            chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined,
          )
        })
      })
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
      url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`
    })
    afterAll(() => new Promise<void>((r) => http.close(() => r())))

    it('calls a tool of a server reached by URL', async () => {
      const { result, model } = await run({ mcp: [{ name: 'remote', url }] }, [
        { toolCalls: [{ name: 'mcp__remote__multiply', input: { a: 3, b: 5 } }] },
        { text: '15' },
      ])
      expect(result.output('t')).toBe('15')
      expect(toolResults(model.calls[1])).toEqual(['15'])
    })
  })
})
