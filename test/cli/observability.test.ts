import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { otlpCollector } from '../helpers/otlp-collector.js'
import { agentImports, ensureBuilt, runCli, spawnCli, tempDir, writeFiles } from './run-cli.js'

// The real CLI as a child process: OTLP export to a collector stand-in, pino logs on stderr.

const { dir, cleanup } = tempDir('flotilla-obs-')
const SECRET = 'sk-live-do-not-log-0123456789'

beforeAll(() => {
  ensureBuilt()
  mkdirSync(join(dir, 'workflows'))
  writeFiles(dir, {
    'agents.mjs': `${agentImports()}
export const hello = defineAgent({
  name: 'hello',
  handler: (input, ctx) => {
    if (input?.fail) throw Object.assign(new Error('the provider refused'), { details: { apiKey: '${SECRET}', user: 'ada' } })
    return 'hi ' + (input?.name ?? 'you')
  },
})
`,
    'wf.yaml': `name: greet\nagents: ./agents.mjs\ntasks:\n  - id: a\n    agent: hello\n    input: { name: Ada }\n  - id: b\n    agent: hello\n    dependsOn: [a]\n`,
    'workflows/greet.yaml': `name: greet\ntasks:\n  - id: a\n    agent: hello\n    input: { name: Ada }\n  - id: b\n    agent: hello\n    input: { fail: true }\n`,
  })
})
afterAll(() => cleanup())

const lines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('OTLP export from the CLI', () => {
  it('flotilla run exports the run and its attempts as one trace when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const collector = await otlpCollector()
    try {
      const r = await runCli(['run', 'wf.yaml', '--json'], {
        cwd: dir,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, FLOTILLA_STORE: 'memory' },
        timeoutMs: 60_000,
      })
      expect(r.code, r.stderr).toBe(0)
      // Flushed before exit: the spans are there when the process has ended.
      const names = collector.spans.map((s) => s.name).sort()
      expect(names).toEqual(['flotilla.run', 'flotilla.task', 'flotilla.task'])
      const run = collector.spans.find((s) => s.name === 'flotilla.run')!
      expect(run.service).toBe('flotilla')
      for (const t of collector.spans.filter((s) => s.name === 'flotilla.task'))
        expect(t).toMatchObject({ traceId: run.traceId, parentSpanId: run.spanId })
      expect(collector.requests.map((q) => q.path)).toContain('/v1/traces')
    } finally {
      await collector.close()
    }
  }, 90_000)

  it('exports nothing without the variables', async () => {
    const collector = await otlpCollector()
    try {
      const r = await runCli(['run', 'wf.yaml', '--json'], { cwd: dir, env: { FLOTILLA_STORE: 'memory' } })
      expect(r.code, r.stderr).toBe(0)
      expect(collector.requests).toEqual([])
    } finally {
      await collector.close()
    }
  }, 60_000)
})

describe('flotilla serve logs', () => {
  it('JSON lines on stderr: HTTP requests, runs and tasks with their ids and trace id, secrets redacted', async () => {
    const collector = await otlpCollector()
    const admin = `flt_abcdefabcdef_${'A'.repeat(43)}`
    const cli = spawnCli(
      ['serve', '--port', '0', '--store', join(dir, 'serve.db'), '--agents', 'agents.mjs', '--workflows', 'workflows'],
      {
        cwd: dir,
        env: { FLOTILLA_ADMIN_KEY: admin, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, FLOTILLA_LOG_LEVEL: 'debug' },
      },
    )
    try {
      await cli.waitFor('Ctrl-C or SIGTERM stops it.', 30_000)
      const url = /listening on (http:\/\/\S+)/.exec(cli.stdout())![1]
      const started = await fetch(`${url}/api/v1/workflows/greet/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'x-api-key': admin },
        body: JSON.stringify({ input: {} }),
      })
      expect(started.status).toBe(201)
      const { id } = (await started.json()) as { id: string }
      await expect
        .poll(() => lines(cli.stderr()).some((l) => l.msg === 'task.succeeded' && l.runId === id), { timeout: 30_000 })
        .toBe(true)
      const logged = lines(cli.stderr())
      const request = logged.find((l) => l.msg === 'http request' && l.method === 'POST')
      expect(request).toMatchObject({ route: '/api/v1/workflows/:name/runs', status: 201, name: 'flotilla-serve' })
      expect(typeof request?.ms).toBe('number')
      const done = logged.find((l) => l.msg === 'task.succeeded' && l.runId === id)
      expect(done).toMatchObject({ runId: id, taskId: 'a', attempt: 1 })
      expect(done?.traceId).toMatch(/^[0-9a-f]{32}$/)
      await expect
        .poll(() => lines(cli.stderr()).some((l) => l.msg === 'task.failed' && l.runId === id), { timeout: 30_000 })
        .toBe(true)
      const failed = lines(cli.stderr()).find((l) => l.msg === 'task.failed' && l.runId === id)
      expect(failed).toMatchObject({ taskId: 'b', err: { details: { apiKey: '[redacted]', user: 'ada' } } })
      expect(cli.stderr()).not.toContain(SECRET)
      expect(cli.stderr()).not.toContain(admin)
      // The run's span (started by the API) and the attempt (the worker in this process) share the trace.
      await expect.poll(() => collector.spans.some((s) => s.name === 'flotilla.task'), { timeout: 15_000 }).toBe(true)
      expect(collector.spans.find((s) => s.name === 'flotilla.task')?.traceId).toBe(done?.traceId)
    } finally {
      cli.child.kill('SIGTERM')
      await cli.exited
      await collector.close()
    }
  }, 90_000)

  it('refuses an unknown --log-level with CLI_USAGE', async () => {
    const r = await runCli(['worker', '--agents', 'agents.mjs', '--log-level', 'loud'], { cwd: dir })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('--log-level (or FLOTILLA_LOG_LEVEL) must be one of')
  })
})
