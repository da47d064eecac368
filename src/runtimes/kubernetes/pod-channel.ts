/**
 * The orchestrator's end of the runtime protocol over HTTP (the agent
 * runner's `--http` mode, `agent-http-server.ts`): messages to the agent are
 * posted in order (those queued while a post is in flight go together in
 * the next one), messages from it are read from a long-lived stream that is
 * resumed after the last one seen when it drops. A stream silent for
 * `silenceMs` (no message, no keep-alive) counts as dropped: a pod whose
 * node died sends nothing and closes nothing.
 */
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http'
import type { ParentMessage } from '../process/protocol.js'

/** Settings of a {@link PodChannel}. */
export interface PodChannelOptions {
  /** `http://<pod IP>:<port>`. */
  readonly base: string
  readonly token: string
  /** Each message of the agent, in order (validated by the caller). */
  readonly onMessage: (raw: unknown) => void
  /** Contact was lost for good (not called after {@link PodChannel.close}). */
  readonly onLost: (reason: string) => void
  /** How long to keep trying to reach the agent again before giving up. @default 5000 */
  readonly reconnectMs?: number
  /** A stream without a byte for this long is dropped. @default 30000 */
  readonly silenceMs?: number
}

/** One agent pod's message channel. */
export class PodChannel {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 2 })
  private readonly queue: string[] = []
  private posting = false
  private lastSeq = 0
  private closed = false
  private lost = false
  private stream: ClientRequest | undefined
  private silence: NodeJS.Timeout | undefined
  private readonly reconnectMs: number
  private readonly silenceMs: number

  constructor(private readonly o: PodChannelOptions) {
    this.reconnectMs = o.reconnectMs ?? 5_000
    this.silenceMs = o.silenceMs ?? 30_000
  }

  /** Attaches the message stream; rejects (with the reason) when the agent cannot be reached within `reconnectMs`. */
  async open(): Promise<void> {
    await this.attachWithRetry()
  }

  /** Queues a message for the agent; throws when it cannot be serialised as JSON. */
  send(message: ParentMessage): void {
    if (this.closed || this.lost) return
    this.queue.push(JSON.stringify(message))
    void this.flush()
  }

  /** Stops reading and posting (messages still queued are dropped). */
  close(): void {
    this.closed = true
    this.stream?.destroy()
    if (this.silence !== undefined) clearTimeout(this.silence)
    this.agent.destroy()
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.o.token}` }
  }

  private giveUp(reason: string): void {
    if (this.closed || this.lost) return
    this.lost = true
    this.stream?.destroy()
    if (this.silence !== undefined) clearTimeout(this.silence)
    this.agent.destroy()
    this.o.onLost(reason)
  }

  private async flush(): Promise<void> {
    if (this.posting || this.queue.length === 0) return
    this.posting = true
    const batch = `${this.queue.splice(0).join('\n')}\n`
    const deadline = Date.now() + this.reconnectMs
    try {
      for (;;) {
        if (this.closed || this.lost) return
        const failure = await this.post(batch)
        if (failure === undefined) break
        if (failure.fatal || Date.now() > deadline) {
          this.giveUp(`messages could not be sent to the agent at ${this.o.base}: ${failure.reason}`)
          return
        }
        await pause(100)
      }
    } finally {
      this.posting = false
    }
    void this.flush()
  }

  private post(body: string): Promise<{ reason: string; fatal: boolean } | undefined> {
    return new Promise((resolve) => {
      const req = request(
        `${this.o.base}/v1/messages`,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers(), 'content-type': 'application/x-ndjson' },
        },
        (res) => {
          res.resume()
          res.on('end', () =>
            resolve(
              res.statusCode === 202
                ? undefined
                : { reason: `HTTP ${res.statusCode ?? '?'}`, fatal: res.statusCode === 401 || res.statusCode === 400 },
            ),
          )
        },
      )
      req.on('error', (e) => resolve({ reason: e.message, fatal: false }))
      req.setTimeout(this.silenceMs, () => req.destroy(new Error('no answer')))
      req.end(body)
    })
  }

  private async attachWithRetry(): Promise<void> {
    const deadline = Date.now() + this.reconnectMs
    let last = ''
    while (!this.closed && !this.lost) {
      const failure = await this.attach()
      if (failure === undefined) return
      last = failure.reason
      if (failure.fatal || Date.now() > deadline) break
      await pause(100)
    }
    if (this.closed) return
    throw new Error(`the agent at ${this.o.base} cannot be reached: ${last}`)
  }

  /** Opens the stream; resolves once it is attached (undefined) or with why it could not be. */
  private attach(): Promise<{ reason: string; fatal: boolean } | undefined> {
    return new Promise((resolve) => {
      let settled = false
      const settle = (v: { reason: string; fatal: boolean } | undefined): void => {
        if (!settled) {
          settled = true
          resolve(v)
        }
      }
      const req = request(
        `${this.o.base}/v1/messages?after=${this.lastSeq}`,
        { method: 'GET', headers: this.headers() },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume()
            settle({ reason: `HTTP ${res.statusCode ?? '?'}`, fatal: res.statusCode === 401 || res.statusCode === 410 })
            return
          }
          settle(undefined)
          this.read(res)
        },
      )
      this.stream = req
      req.on('error', (e) => settle({ reason: e.message, fatal: false }))
      req.setTimeout(this.silenceMs, () => req.destroy(new Error('no answer')))
      req.end()
    })
  }

  private read(res: IncomingMessage): void {
    let buffered = ''
    const arm = (): void => {
      if (this.silence !== undefined) clearTimeout(this.silence)
      this.silence = setTimeout(() => res.destroy(new Error(`silent for ${this.silenceMs} ms`)), this.silenceMs)
      this.silence.unref()
    }
    arm()
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      arm()
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (line.trim() === '' || this.closed || this.lost) continue
        let parsed: { seq?: unknown; message?: unknown }
        try {
          parsed = JSON.parse(line) as { seq?: unknown; message?: unknown }
        } catch {
          this.o.onMessage(line) // not JSON: the caller reports a protocol error
          continue
        }
        if (typeof parsed.seq !== 'number') continue // keep-alive
        if (parsed.seq <= this.lastSeq) continue // already seen before a resume
        this.lastSeq = parsed.seq
        this.o.onMessage(parsed.message)
      }
    })
    const dropped = (): void => {
      if (this.silence !== undefined) clearTimeout(this.silence)
      if (this.closed || this.lost) return
      this.attachWithRetry().catch((e: Error) => this.giveUp(`the message stream dropped and ${e.message}`))
    }
    res.on('close', dropped)
    res.on('error', () => undefined)
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
