import { Client } from '../../src/orchestrator/client.js'
import type { Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { defineAgent } from '../../src/agents/define-agent.js'
import { startServer } from '../../src/server/serve.js'
import { workflow } from '../../src/workflows/builder.js'

/** One server-sent event as the tests read it: its fields, its parsed data, and when it arrived (ms since epoch). */
export interface SseEvent<T = Record<string, unknown>> {
  id: string
  event: string
  data: T
  receivedAt: number
}

/** Reads server-sent events from a response until `stop` says so (or the stream ends). */
export async function readSse<T = Record<string, unknown>>(
  res: Response,
  stop: (e: SseEvent<T>, all: SseEvent<T>[]) => boolean,
): Promise<SseEvent<T>[]> {
  const out: SseEvent<T>[] = []
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return out
      const receivedAt = Date.now()
      buffer += value
      let cut: number
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut)
        buffer = buffer.slice(cut + 2)
        const field = (name: string) =>
          block
            .split('\n')
            .find((l) => l.startsWith(`${name}:`))
            ?.slice(name.length + 1)
            .trim()
        const data = field('data')
        if (data === undefined) continue
        const e = { id: field('id') ?? '', event: field('event') ?? '', data: JSON.parse(data) as T, receivedAt }
        out.push(e)
        if (stop(e, out)) return out
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}

/**
 * Serves `backend` with a 10 s live poll and a worker in the same process,
 * runs two 300 ms tasks in a row on it, and reads the run's live stream from
 * its start: how long the stream took to end, and its event types. With
 * polling alone the stream would end 10 s after the run.
 */
export async function liveStreamOfWorkerRun(
  backend: Backend,
  agent: string,
): Promise<{ ms: number; events: string[] }> {
  let admin = ''
  const server = await startServer({ backend, port: 0, livePollMs: 10_000, onAdminKey: (k) => (admin = k) })
  const worker = new Worker({ backend })
  try {
    await worker.register(
      defineAgent({ name: agent, handler: async (x: unknown) => (await new Promise((r) => setTimeout(r, 300)), x) }),
    )
    await worker.start()
    const client = await Client.connect(backend.store)
    const id = await client.start(
      workflow(`${agent}-run`)
        .task('a', { agent, input: 1 })
        .task('b', { agent, input: 2, dependsOn: ['a'] })
        .build(),
    )
    const started = Date.now()
    const res = await fetch(`${server.url}/api/v1/runs/${id}/live`, { headers: { authorization: `Bearer ${admin}` } })
    const events = await readSse(res, () => false)
    const ms = Date.now() - started
    await client.close()
    return { ms, events: events.map((e) => e.event) }
  } finally {
    await worker.stop()
    await server.close()
  }
}
