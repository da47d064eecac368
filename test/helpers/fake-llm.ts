import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// A local HTTP server speaking the OpenAI chat-completions, OpenAI responses
// and Anthropic messages wire formats, as JSON and as server-sent events,
// for tests of real provider packages over real HTTP: the test decides each
// reply (an answer, tool calls, reasoning, an HTTP error with headers, a
// malformed or cut body, a connection that never answers, a stream cut,
// ended early, hung or with a malformed chunk) and reads back every request.

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
  | FakeStream
  | { hang: true }

/**
 * A server-sent-event stream: each event is written as `data: <JSON>` (a
 * string as is), after `event: <type>` when it has a string `type` (as
 * OpenAI responses and Anthropic write them). Faults: `cutAfter` closes the
 * connection after that many events (a broken connection), `endAfter` ends
 * the response cleanly after them (the finish never sent), `hangAfter`
 * sends them and then nothing, keeping the connection open; `malformedAt`
 * replaces that event with a line that is not JSON. `gapMs` waits between
 * events.
 */
export interface FakeStream {
  sse: readonly unknown[]
  cutAfter?: number
  endAfter?: number
  hangAfter?: number
  malformedAt?: number
  gapMs?: number
}

/** Chooses the reply to the `index`-th request (0-based). */
export type FakeHandler = (request: FakeRequest, index: number) => FakeReply

export interface FakeLlm {
  /** `http://127.0.0.1:<port>/v1` */
  readonly url: string
  readonly requests: FakeRequest[]
  close(): Promise<void>
}

function frame(event: unknown): string {
  const type = (event as { type?: unknown } | null)?.type
  const data = typeof event === 'string' ? event : JSON.stringify(event)
  return `${typeof type === 'string' ? `event: ${type}\n` : ''}data: ${data}\n\n`
}

function sendStream(res: ServerResponse, reply: FakeStream, hanging: Set<ServerResponse>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.flushHeaders()
  const events = reply.sse.map((e, k) => (k === reply.malformedAt ? '{"type": "oops", broken' : e))
  const stop = Math.min(events.length, reply.cutAfter ?? reply.endAfter ?? reply.hangAfter ?? events.length)
  let k = 0
  const next = (): void => {
    if (res.destroyed) return
    while (k < stop) {
      res.write(frame(events[k++]))
      if (reply.gapMs !== undefined && k < stop) return void setTimeout(next, reply.gapMs)
    }
    if (reply.cutAfter !== undefined) setTimeout(() => res.socket?.destroy(), 20)
    else if (reply.hangAfter !== undefined) {
      hanging.add(res)
      res.on('close', () => hanging.delete(res))
    } else res.end()
  }
  next()
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
        sendStream(res, reply, hanging)
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

/** What a streamed answer holds, in every wire format. */
export interface StreamAnswer {
  text?: string
  reasoning?: string
  toolCalls?: readonly { id: string; name: string; input: unknown }[]
  /** Tokens reported (in the last event; Anthropic's input in the first, the cached ones apart). @default { input: 100, output: 20 } */
  usage?: { input: number; output: number; reasoning?: number; cached?: number }
}

/** `s` in pieces of `n` characters, as a model streams it. */
export function pieces(s: string, n = 6): string[] {
  const out: string[] = []
  for (let i = 0; i < s.length; i += n) out.push(s.slice(i, i + n))
  return out
}

const usageOf = (a: StreamAnswer) => ({ reasoning: 0, cached: 0, ...(a.usage ?? { input: 100, output: 20 }) })

/** An OpenAI chat-completions stream: deltas of reasoning, text and tool calls, the finish, then usage and `[DONE]`. */
export function chatStream(a: StreamAnswer): FakeStream {
  const base = { id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'fake' }
  const chunk = (delta: unknown, finish: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })
  const u = usageOf(a)
  return {
    sse: [
      chunk({ role: 'assistant', content: '' }),
      ...pieces(a.reasoning ?? '').map((p) => chunk({ reasoning_content: p })),
      ...pieces(a.text ?? '').map((p) => chunk({ content: p })),
      ...(a.toolCalls ?? []).flatMap((c, index) => [
        chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }),
        ...pieces(JSON.stringify(c.input)).map((p) => chunk({ tool_calls: [{ index, function: { arguments: p } }] })),
      ]),
      chunk({}, a.toolCalls?.length ? 'tool_calls' : 'stop'),
      {
        ...base,
        choices: [],
        usage: {
          prompt_tokens: u.input,
          completion_tokens: u.output,
          total_tokens: u.input + u.output,
          prompt_tokens_details: { cached_tokens: u.cached },
          completion_tokens_details: { reasoning_tokens: u.reasoning },
        },
      },
      '[DONE]',
    ],
  }
}

/** An OpenAI responses stream: `response.created`, output items (reasoning summary, message, function calls), `response.completed` with usage. */
export function responsesStream(a: StreamAnswer): FakeStream {
  const u = usageOf(a)
  const sse: unknown[] = [
    { type: 'response.created', response: { id: 'resp_s', created_at: 1_700_000_000, model: 'gpt-fake' } },
  ]
  let n = 0
  if (a.reasoning !== undefined) {
    const item = { type: 'reasoning', id: 'rs_1', encrypted_content: null, summary: [] }
    sse.push(
      { type: 'response.output_item.added', output_index: n, item },
      { type: 'response.reasoning_summary_part.added', item_id: 'rs_1', summary_index: 0 },
      ...pieces(a.reasoning).map((delta) => ({
        type: 'response.reasoning_summary_text.delta',
        item_id: 'rs_1',
        summary_index: 0,
        delta,
      })),
      { type: 'response.reasoning_summary_part.done', item_id: 'rs_1', summary_index: 0 },
      { type: 'response.output_item.done', output_index: n++, item },
    )
  }
  if (a.text !== undefined) {
    const item = { type: 'message', id: 'msg_s', role: 'assistant', status: 'completed' }
    sse.push(
      { type: 'response.output_item.added', output_index: n, item },
      ...pieces(a.text).map((delta) => ({ type: 'response.output_text.delta', item_id: 'msg_s', delta })),
      { type: 'response.output_item.done', output_index: n++, item },
    )
  }
  for (const c of a.toolCalls ?? []) {
    const args = JSON.stringify(c.input)
    const item = { type: 'function_call', id: `fc_${c.id}`, call_id: c.id, name: c.name }
    sse.push(
      { type: 'response.output_item.added', output_index: n, item: { ...item, arguments: '' } },
      ...pieces(args).map((delta) => ({
        type: 'response.function_call_arguments.delta',
        item_id: item.id,
        output_index: n,
        delta,
      })),
      { type: 'response.output_item.done', output_index: n++, item: { ...item, arguments: args, status: 'completed' } },
    )
  }
  sse.push({
    type: 'response.completed',
    response: {
      id: 'resp_s',
      status: 'completed',
      incomplete_details: null,
      usage: {
        input_tokens: u.input,
        output_tokens: u.output,
        input_tokens_details: { cached_tokens: u.cached },
        output_tokens_details: { reasoning_tokens: u.reasoning },
      },
    },
  })
  return { sse }
}

/** An Anthropic messages stream: `message_start`, content blocks (thinking with its signature, text, tool use), `message_delta` with the stop reason and usage, `message_stop`. */
export function anthropicStream(a: StreamAnswer): FakeStream {
  const u = usageOf(a)
  const sse: unknown[] = [
    {
      type: 'message_start',
      message: {
        id: 'msg_s',
        type: 'message',
        role: 'assistant',
        model: 'claude-fake',
        content: [],
        stop_reason: null,
        usage: { input_tokens: u.input - u.cached, output_tokens: 1, cache_read_input_tokens: u.cached },
      },
    },
    { type: 'ping' },
  ]
  let index = 0
  const block = (start: unknown, deltas: unknown[]): void => {
    sse.push(
      { type: 'content_block_start', index, content_block: start },
      ...deltas.map((delta) => ({ type: 'content_block_delta', index, delta })),
      { type: 'content_block_stop', index: index++ },
    )
  }
  if (a.reasoning !== undefined)
    block({ type: 'thinking', thinking: '' }, [
      ...pieces(a.reasoning).map((thinking) => ({ type: 'thinking_delta', thinking })),
      { type: 'signature_delta', signature: 'sig-stream' },
    ])
  if (a.text !== undefined)
    block(
      { type: 'text', text: '' },
      pieces(a.text).map((text) => ({ type: 'text_delta', text })),
    )
  for (const c of a.toolCalls ?? [])
    block(
      { type: 'tool_use', id: c.id, name: c.name, input: {} },
      pieces(JSON.stringify(c.input)).map((partial_json) => ({ type: 'input_json_delta', partial_json })),
    )
  sse.push(
    {
      type: 'message_delta',
      delta: { stop_reason: a.toolCalls?.length ? 'tool_use' : 'end_turn', stop_sequence: null },
      usage: { output_tokens: u.output },
    },
    { type: 'message_stop' },
  )
  return { sse }
}
