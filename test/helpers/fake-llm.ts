import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// A local HTTP server speaking the OpenAI chat-completions and the Anthropic
// messages wire formats, for tests of real provider packages over real HTTP:
// the test decides each reply (an answer, tool calls, an HTTP error with
// headers, a malformed or cut body, a connection that never answers, a
// server-sent-event stream) and reads back every request received.

/** One request the server received. */
export interface FakeRequest {
  path: string
  headers: IncomingMessage['headers']
  body: Record<string, unknown>
}

/** What the server answers. */
export type FakeReply =
  | { json: unknown; status?: number; headers?: Record<string, string>; delayMs?: number }
  | { raw: string; status?: number; headers?: Record<string, string> }
  | { sse: readonly unknown[]; cutAfter?: number }
  | { hang: true }

/** Chooses the reply to the `index`-th request (0-based). */
export type FakeHandler = (request: FakeRequest, index: number) => FakeReply

export interface FakeLlm {
  /** `http://127.0.0.1:<port>/v1` */
  readonly url: string
  readonly requests: FakeRequest[]
  close(): Promise<void>
}

export async function startFakeLlm(handler: FakeHandler): Promise<FakeLlm> {
  const requests: FakeRequest[] = []
  const hanging = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let body: Record<string, unknown> = {}
      try {
        body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>
      } catch {
        body = {}
      }
      const request: FakeRequest = { path: req.url ?? '', headers: req.headers, body }
      const index = requests.length
      requests.push(request)
      const reply = handler(request, index)
      if ('hang' in reply) {
        hanging.add(res)
        res.on('close', () => hanging.delete(res))
        return
      }
      if ('sse' in reply) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        reply.sse.forEach((event, k) => {
          if (reply.cutAfter !== undefined && k >= reply.cutAfter) return
          res.write(`data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`)
        })
        if (reply.cutAfter !== undefined) res.socket?.destroy()
        else res.end()
        return
      }
      const send = (): void => {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...(reply.headers ?? {}) })
        res.end('raw' in reply ? reply.raw : JSON.stringify(reply.json))
      }
      if ('json' in reply && reply.delayMs !== undefined) setTimeout(send, reply.delayMs)
      else send()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.socket?.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** An OpenAI chat completion with text. */
export function chatText(text: string, usage = { prompt_tokens: 100, completion_tokens: 10 }): { json: unknown } {
  return {
    json: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'fake',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    },
  }
}

/** An OpenAI chat completion calling tools. */
export function chatToolCalls(calls: readonly { id: string; name: string; input: unknown }[]): { json: unknown } {
  return {
    json: {
      id: 'chatcmpl-2',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'fake',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: calls.map((c) => ({
              id: c.id,
              type: 'function',
              function: { name: c.name, arguments: JSON.stringify(c.input) },
            })),
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    },
  }
}

/** An Anthropic messages response with text (and optional thinking). */
export function anthropicText(text: string, thinking?: string): { json: unknown } {
  return {
    json: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-fake',
      stop_reason: 'end_turn',
      stop_sequence: null,
      content: [
        ...(thinking === undefined ? [] : [{ type: 'thinking', thinking, signature: 'sig' }]),
        { type: 'text', text },
      ],
      usage: { input_tokens: 50, output_tokens: 12, cache_read_input_tokens: 20 },
    },
  }
}

/** How many tool results the chat-completions request carries (the step of a tool loop it is). */
export function toolMessages(request: FakeRequest): number {
  return ((request.body.messages as { role: string }[] | undefined) ?? []).filter((m) => m.role === 'tool').length
}
