/**
 * The agent runner's HTTP mode (`flotilla agent run --http <port>`), what a
 * pod of the `kubernetes` runtime runs: the messages of the runtime
 * protocol (the `process` runtime's IPC protocol, `protocol.ts`) over HTTP,
 * behind a bearer token.
 *
 * - `GET /v1/health`: `{ ok, state }` without a token, for the pod's probes.
 * - `POST /v1/messages`: newline-delimited JSON, one orchestrator message a
 *   line (`deploy`, `execute`, `cancel`, `call-result`, `limits`, `deliver`,
 *   `shutdown`…), handled in order; `202 { accepted }`.
 * - `GET /v1/messages?after=<seq>`: a newline-delimited JSON stream of the
 *   agent's messages, each `{ seq, message }`, starting after `seq` (the
 *   last ones are kept, so a dropped stream resumes without a loss); one
 *   stream at a time, a new one replaces the old; `{}` lines keep it alive.
 *
 * With no stream attached for `idleExitMs`, the process exits (code 0): an
 * agent does not outlive the orchestrator that stopped speaking to it.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { FlotillaError } from '../../core/errors.js'
import type { ChildMessage } from '../process/protocol.js'
import { RunnerHost } from '../process/runner-host.js'

/** Options of {@link serveAgentHttp}. */
export interface AgentHttpOptions {
  /** TCP port; 0 picks a free one. */
  readonly port: number
  /** Address to listen on. @default "0.0.0.0" */
  readonly host?: string
  /** The bearer token every message request must carry (at least 16 characters). */
  readonly token: string
  /** Exit after this long without an attached message stream. @default 60000 */
  readonly idleExitMs?: number
  /** How many sent messages are kept for a stream that resumes. @default 4096 */
  readonly replay?: number
  /** Called once the agent stops, with the exit code (0: shutdown or idle; 70: a malformed message). */
  readonly onEnd?: (code: number) => void
}

/** A running agent HTTP server. */
export interface AgentHttpServer {
  /** The port it listens on. */
  readonly port: number
  /** Resolves with the exit code once the agent stops (shutdown, malformed message, idle). */
  readonly done: Promise<number>
  /** Stops the agent and the server. */
  close(): Promise<void>
}

const MAX_BODY = 64 * 1024 * 1024
const KEEPALIVE_MS = 10_000

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** Starts the agent runner's HTTP mode and resolves once it listens. */
export async function serveAgentHttp(options: AgentHttpOptions): Promise<AgentHttpServer> {
  if (options.token.length < 16)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      'The agent HTTP mode needs a token of at least 16 characters (set FLOTILLA_AGENT_TOKEN).',
      { details: { field: 'token' } },
    )
  const expected = digest(`Bearer ${options.token}`)
  const replayMax = options.replay ?? 4096
  const idleExitMs = options.idleExitMs ?? 60_000
  const sent: { seq: number; line: string }[] = []
  let seq = 0
  let stream: ServerResponse | undefined
  let idleTimer: NodeJS.Timeout | undefined
  let finish!: (code: number) => void
  const done = new Promise<number>((resolve) => (finish = resolve))
  let ended = false

  const host = new RunnerHost({
    send(message: ChildMessage) {
      const line = `${JSON.stringify({ seq: seq + 1, message })}\n`
      seq++
      sent.push({ seq, line })
      if (sent.length > replayMax) sent.shift()
      stream?.write(line)
    },
    // Let the reply (and a protocol-error message) reach the stream before the process goes.
    exit: (code) => setImmediate(() => end(code)),
  })
  const end = (code: number): void => {
    if (ended) return
    ended = true
    host.stop()
    if (idleTimer !== undefined) clearTimeout(idleTimer)
    stream?.end()
    server.close()
    server.closeIdleConnections()
    finish(code)
    options.onEnd?.(code)
  }
  const armIdle = (): void => {
    if (idleTimer !== undefined) clearTimeout(idleTimer)
    idleTimer = setTimeout(() => end(0), idleExitMs)
    idleTimer.unref()
  }

  const authorized = (req: IncomingMessage): boolean => {
    const given = req.headers.authorization
    return typeof given === 'string' && timingSafeEqual(digest(given), expected)
  }
  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  const attach = (res: ServerResponse, after: number): void => {
    const oldest = sent[0]?.seq ?? seq + 1
    if (after < seq && after + 1 < oldest) {
      reply(res, 410, {
        error: { code: 'IPC_PROTOCOL_ERROR', message: `The messages after ${after} are no longer kept.` },
      })
      return
    }
    stream?.end()
    stream = res
    if (idleTimer !== undefined) clearTimeout(idleTimer)
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    res.flushHeaders()
    for (const m of sent) if (m.seq > after) res.write(m.line)
    const keepalive = setInterval(() => res.write('{}\n'), KEEPALIVE_MS)
    keepalive.unref()
    res.on('close', () => {
      clearInterval(keepalive)
      if (stream === res) {
        stream = undefined
        if (!ended) armIdle()
      }
    })
  }

  const receive = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) req.destroy()
      else chunks.push(c)
    })
    req.on('end', () => {
      let accepted = 0
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        if (line.trim() === '' || ended) continue
        let raw: unknown
        try {
          raw = JSON.parse(line)
        } catch {
          raw = line
        }
        host.receive(raw)
        accepted++
      }
      reply(res, 202, { accepted })
    })
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent')
    if (url.pathname === '/v1/health' && req.method === 'GET') return reply(res, 200, { ok: true, state: host.state })
    if (url.pathname !== '/v1/messages')
      return reply(res, 404, { error: { code: 'ROUTE_NOT_FOUND', message: `No route ${url.pathname}.` } })
    if (!authorized(req))
      return reply(res, 401, { error: { code: 'AUTH_REQUIRED', message: 'A valid bearer token is required.' } })
    if (req.method === 'GET') return attach(res, Number(url.searchParams.get('after') ?? '0') || 0)
    if (req.method === 'POST') return receive(req, res)
    reply(res, 405, { error: { code: 'VALIDATION_FAILED', message: 'Use GET or POST.' } })
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve())
  })
  armIdle()
  return {
    port: (server.address() as AddressInfo).port,
    done,
    close: async () => {
      end(0)
      await done
    },
  }
}
