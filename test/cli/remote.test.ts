import { createServer } from 'node:net'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentImports, ensureBuilt, runCli, serveCli, tempDir, writeFiles, type BackgroundCli } from './run-cli.js'

/**
 * `flotilla run` and `flotilla runs list|show|pause|resume|cancel` with
 * `--server`/`--api-key` (or FLOTILLA_SERVER/FLOTILLA_API_KEY) against a
 * `flotilla serve` child process with a worker, over real HTTP.
 */
const tmp = tempDir('flotilla-remote-')
const dir = tmp.dir

const AGENTS = `${agentImports()}
export const greeter = defineAgent({ name: 'greeter', handler: async (input) => ({ greeting: 'Hello, ' + input.name + '!' }) })
export const sleeper = defineAgent({
  name: 'sleeper',
  handler: (input, ctx) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve({ slept: input.ms }), input.ms)
      ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(ctx.signal.reason) })
    }),
})
`
const HELLO = `name: hello
inputs:
  name: { type: string, default: world }
tasks:
  - id: greet
    agent: greeter
    input: { name: { $ref: input.name } }
`
const SLOW = `name: slow
tasks:
  - id: first
    agent: sleeper
    input: { ms: 1500 }
  - id: second
    agent: sleeper
    input: { ms: 60000 }
    dependsOn: [first]
`

let server: BackgroundCli
let url = ''
let key = ''

/** The CLI with the server named by flags. */
const remote = (...args: string[]) => runCli([...args, '--server', url, '--api-key', key], { cwd: dir })
/** The CLI with the server named by the environment. */
const byEnv = (...args: string[]) =>
  runCli(args, { cwd: dir, env: { FLOTILLA_SERVER: url, FLOTILLA_API_KEY: key, FLOTILLA_STORE: undefined } })

beforeAll(async () => {
  ensureBuilt()
  mkdirSync(join(dir, 'workflows'))
  writeFiles(dir, {
    'agents.mjs': AGENTS,
    'workflows/hello.yaml': HELLO,
    'workflows/slow.yaml': SLOW,
    'hi.yaml': HELLO,
  })
  ;({ server, url, key } = await serveCli(['--store', 'memory', '--workflows', 'workflows', '--agents', 'agents.mjs'], {
    cwd: dir,
  }))
}, 60_000)

afterAll(async () => {
  server?.child.kill('SIGTERM')
  expect(await server?.exited).toBe(0)
  tmp.cleanup()
})

describe('flotilla run --server', () => {
  it('starts a named workflow of the server and follows it to the end', async () => {
    const r = await remote('run', 'hello', '--input', 'name=Ada')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/Started run run_\S+ of workflow "hello" on http:\/\/127\.0\.0\.1:\d+; following it/)
    expect(r.stdout).toContain('task.succeeded greet')
    expect(r.stdout).toMatch(/Run run_\S+ SUCCEEDED in .+: 1\/1 tasks succeeded/)
    expect(r.stdout).toContain('greet: {"greeting":"Hello, Ada!"}')
  })

  it('sends a workflow file whole, and --detach --json returns the run id at once', async () => {
    const r = await remote('run', 'hi.yaml', '--input', 'name=007', '--detach', '--json')
    expect(r.code, r.stderr).toBe(0)
    const { runId } = JSON.parse(r.stdout) as { runId: string }
    expect(runId).toMatch(/^run_/)
    const done = await remote('run', 'hi.yaml', '--json')
    expect(JSON.parse(done.stdout)).toMatchObject({
      run: { state: 'SUCCEEDED' },
      outputs: { greet: { greeting: 'Hello, world!' } },
    })
  })

  it('names what the server refused: an unknown workflow, a wrong key', async () => {
    const unknown = await remote('run', 'helo')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain(
      'error [TEMPLATE_NOT_FOUND]: No workflow "helo" in the catalog. Did you mean "hello"?',
    )
    const wrong = await runCli(['runs', 'list', '--server', url, '--api-key', `flt_abcdefabcdef_${'a'.repeat(43)}`])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('error [AUTH_INVALID]')
  })
})

describe('flotilla runs --server', () => {
  it('list and show read the runs of the server (flags or FLOTILLA_SERVER and FLOTILLA_API_KEY)', async () => {
    const list = await byEnv('runs', 'list')
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toMatch(/ID\s+WORKFLOW\s+STATE\s+CREATED\s+DURATION/)
    expect(list.stdout).toMatch(/run_\S+\s+hello\s+SUCCEEDED/)
    const runs = JSON.parse((await remote('runs', 'list', '--workflow', 'hello', '--json')).stdout) as { id: string }[]
    expect(runs.length).toBeGreaterThanOrEqual(3)
    const show = await byEnv('runs', 'show', runs[0]?.id ?? '')
    expect(show.code, show.stderr).toBe(0)
    expect(show.stdout).toContain(`Run ${runs[0]?.id} of workflow "hello": SUCCEEDED`)
    expect(show.stdout).toMatch(/greet\s+SUCCEEDED\s+1\s+greeter@1\.0\.0/)
    expect(show.stdout).toContain('run.succeeded')
    const missing = await remote('runs', 'show', 'run_nope')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('error [RUN_NOT_FOUND]')
  })

  it('pause, resume and cancel a run the server’s worker executes', async () => {
    const { runId } = JSON.parse((await remote('run', 'slow', '--detach', '--json')).stdout) as { runId: string }
    const pause = await remote('runs', 'pause', runId)
    expect(pause.code, pause.stderr).toBe(0)
    expect(pause.stdout).toContain(`Run ${runId} is PAUSED on ${url}.`)
    const resume = await remote('runs', 'resume', runId, '--json')
    expect(resume.code, resume.stderr).toBe(0)
    expect(JSON.parse(resume.stdout)).toMatchObject({ ok: true, runId })
    const cancel = await remote('runs', 'cancel', runId, '--reason', 'enough')
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toContain(`Run ${runId} is CANCELLED`)
    const again = await remote('runs', 'cancel', runId)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('error [RUN_STATE_INVALID]')
  })

  it('refuses a server without a key, with --store, or one that does not answer', async () => {
    const noKey = await runCli(['runs', 'list', '--server', url], { env: { FLOTILLA_API_KEY: undefined } })
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toContain('--server needs an API key')
    const both = await runCli(['runs', 'list', '--server', url, '--api-key', key, '--store', 'memory'])
    expect(both.code).toBe(2)
    const free = createServer()
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r))
    const port = (free.address() as { port: number }).port
    await new Promise((r) => free.close(r))
    const down = await runCli(['runs', 'list', '--server', `http://127.0.0.1:${port}`, '--api-key', key])
    expect(down.code).toBe(1)
    expect(down.stderr).toContain(
      `error [STORE_UNAVAILABLE]: Cannot reach the server http://127.0.0.1:${port}: ECONNREFUSED`,
    )
  })
})
