import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { otlpCollector, type CollectedSpan } from '../helpers/otlp-collector.js'
import { agentImports, ensureBuilt, ROOT, spawnCli, tempDir, writeFiles } from './run-cli.js'

// One trace across the worker queue: `flotilla serve` (no worker) stores a run
// started through the API, a separate `flotilla worker` process on the same
// SQLite file runs its tasks; both export to one OTLP collector stand-in.

const { dir, cleanup } = tempDir('flotilla-trace-worker-')

beforeAll(() => {
  ensureBuilt()
  mkdirSync(join(dir, 'workflows'))
  const testing = pathToFileURL(join(ROOT, 'dist/testing.js')).href
  const flotilla = pathToFileURL(join(ROOT, 'dist/index.js')).href
  writeFiles(dir, {
    'agents.mjs': `${agentImports()}import { defineLlmAgent, defineTool } from '${flotilla}'
import { scriptedModel } from '${testing}'
export const hello = defineAgent({ name: 'hello', handler: (input) => 'hi ' + (input?.name ?? 'you') })
const add = defineTool({ name: 'add', input: z.object({ a: z.number(), b: z.number() }), run: ({ a, b }) => a + b })
export const calculator = defineLlmAgent({
  name: 'calculator',
  model: scriptedModel([{ toolCalls: [{ name: 'add', input: { a: 1, b: 2 } }] }, { text: 'three' }], { repeatLast: false }),
  tools: [add],
})
`,
    'workflows/greet.yaml': `name: greet\ntasks:\n  - id: a\n    agent: hello\n    input: { name: Ada }\n  - id: b\n    agent: calculator\n    input: add 1 and 2\n    dependsOn: [a]\n`,
  })
})
afterAll(() => cleanup())

describe('one trace across the worker queue', () => {
  it('a run started through flotilla serve and run by a flotilla worker process is one trace', async () => {
    const collector = await otlpCollector()
    const admin = `flt_abcdefabcdef_${'B'.repeat(43)}`
    const store = join(dir, 'queue.db')
    const env = { FLOTILLA_ADMIN_KEY: admin, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }
    const serve = spawnCli(['serve', '--port', '0', '--store', store, '--workflows', 'workflows'], { cwd: dir, env })
    let worker: ReturnType<typeof spawnCli> | undefined
    try {
      await serve.waitFor('Ctrl-C or SIGTERM stops it.', 30_000)
      worker = spawnCli(['worker', '--store', store, '--agents', 'agents.mjs', '--id', 'w-traced'], { cwd: dir, env })
      await worker.waitFor('worker w-traced ready', 30_000)
      const url = /listening on (http:\/\/\S+)/.exec(serve.stdout())![1]
      const headers = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }
      const started = await fetch(`${url}/api/v1/workflows/greet/runs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ input: {} }),
      })
      expect(started.status).toBe(201)
      const { id } = (await started.json()) as { id: string }
      await expect
        .poll(
          async () => {
            const r = await fetch(`${url}/api/v1/runs/${id}`, { headers })
            return ((await r.json()) as { state?: string }).state
          },
          { timeout: 30_000, interval: 200 },
        )
        .toBe('SUCCEEDED')
      const find = (name: string, service: string, task?: string): CollectedSpan | undefined =>
        collector.spans.find(
          (s) =>
            s.name === name &&
            s.service === service &&
            s.attributes['flotilla.run_id'] === id &&
            (task === undefined || s.attributes['flotilla.task_id'] === task),
        )
      // Spans go in batches every second: wait for the run's (ended by serve) and the worker's.
      await expect
        .poll(() => [find('flotilla.run', 'flotilla-serve'), find('flotilla.task', 'flotilla-worker', 'b')], {
          timeout: 20_000,
        })
        .not.toContain(undefined)
      const run = find('flotilla.run', 'flotilla-serve')!
      const tasks = ['a', 'b'].map((t) => find('flotilla.task', 'flotilla-worker', t)!)
      expect(tasks.map((t) => [t.traceId, t.parentSpanId])).toEqual([
        [run.traceId, run.spanId],
        [run.traceId, run.spanId],
      ])
      // The tool call in the worker hangs under its attempt.
      const tool = collector.spans.find((s) => s.name === 'execute_tool add')
      expect(tool).toMatchObject({
        traceId: run.traceId,
        parentSpanId: tasks[1].spanId,
        service: 'flotilla-worker',
        attributes: { 'gen_ai.tool.name': 'add' },
      })
      // Store commits on both sides of the queue join the run's trace: the API's (the run's creation) and the worker's.
      const commits = collector.spans.filter((s) => s.name === 'flotilla.store.commit' && s.traceId === run.traceId)
      expect(new Set(commits.map((c) => c.service))).toEqual(new Set(['flotilla-serve', 'flotilla-worker']))
      expect(
        commits.some((c) => c.service === 'flotilla-worker' && c.attributes['db.operation.name'] === 'complete'),
      ).toBe(true)
      expect(commits.every((c) => c.attributes['db.system.name'] === 'sqlite')).toBe(true)
    } finally {
      worker?.child.kill('SIGTERM')
      serve.child.kill('SIGTERM')
      await Promise.all([worker?.exited, serve.exited])
      await collector.close()
    }
  }, 120_000)
})
