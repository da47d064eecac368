// The agent runner's HTTP mode as a real process (`flotilla agent run --http`): the token, the health
// endpoint, a deploy and a command over HTTP, a resumed stream, and what is refused.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../cli/run-cli.js'
import { SINK } from '../contract/runtime.contract.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'

const TOKEN = 'a-token-of-enough-length'
let child: ChildProcess
let base = ''
const dir = mkdtempSync(join(tmpdir(), 'flotilla-http-'))

beforeAll(async () => {
  ensureFreshBuild()
  child = spawn(
    process.execPath,
    [join(ROOT, 'dist/cli/main.js'), 'agent', 'run', '--http', '0', '--host', '127.0.0.1'],
    {
      env: { ...process.env, FLOTILLA_AGENT_TOKEN: TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  base = await new Promise<string>((resolve) => {
    child.stderr!.on('data', (b: Buffer) => {
      const m = /listening on (http:\/\/[^ ]+)/.exec(b.toString())
      if (m) resolve(m[1]!)
    })
  })
}, 120_000)
afterAll(() => {
  child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

const auth = { authorization: `Bearer ${TOKEN}` }

describe('flotilla agent run --http', () => {
  it('answers health without a token and refuses messages without the right one', async () => {
    expect(await (await fetch(`${base}/v1/health`)).json()).toEqual({ ok: true, state: 'waiting' })
    expect((await fetch(`${base}/v1/messages`, { method: 'POST', body: '{}' })).status).toBe(401)
    expect((await fetch(`${base}/v1/messages`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
  })

  it('deploys and runs a command sent over HTTP, and a stream resumed after a seq replays what followed', async () => {
    const post = (lines: unknown[]) =>
      fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: auth,
        body: lines.map((l) => JSON.stringify(l)).join('\n'),
      })
    const deploy = {
      type: 'deploy',
      request: {
        instanceId: 'agt_http1',
        name: 'sink',
        module: SINK,
        exportName: 'default',
        tools: [],
        permissions: [],
        workspace: join(dir, 'ws'),
        usageIntervalMs: 60_000,
      },
    }
    expect(await (await post([deploy])).json()).toEqual({ accepted: 1 })
    const res = await fetch(`${base}/v1/messages?after=0`, { headers: auth })
    const reader = res.body!.getReader()
    let text = ''
    while (!text.includes('"type":"ready"')) text += new TextDecoder().decode((await reader.read()).value)
    await post([{ type: 'execute', id: 1, input: { op: 'echo', value: 'hi' } }])
    while (!text.includes('"type":"result"')) text += new TextDecoder().decode((await reader.read()).value)
    await reader.cancel()
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith('{"seq"'))
      .map((l) => JSON.parse(l) as { seq: number; message: { type: string; output?: { value?: string } } })
    expect(lines.map((l) => l.message.type)).toEqual(['ready', 'result'])
    expect(lines[1]!.message.output?.value).toBe('hi')
    const again = await fetch(`${base}/v1/messages?after=${lines[0]!.seq}`, { headers: auth })
    const r2 = again.body!.getReader()
    const first = new TextDecoder().decode((await r2.read()).value)
    await r2.cancel()
    expect(JSON.parse(first.split('\n')[0]!)).toMatchObject({ seq: lines[1]!.seq, message: { type: 'result' } })
  })

  it('needs a token of 16 characters and refuses a spec file', async () => {
    const run = (env: Record<string, string>, args: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'agent', 'run', ...args], {
          env: { ...process.env, ...env },
        })
        let err = ''
        p.stderr.on('data', (b: Buffer) => (err += b.toString()))
        p.on('exit', (code) => resolve({ code, err }))
      })
    const short = await run({ FLOTILLA_AGENT_TOKEN: 'short' }, ['--http', '0'])
    expect(short.code).toBe(2)
    expect(short.err).toContain('FLOTILLA_AGENT_TOKEN')
    const spec = await run({ FLOTILLA_AGENT_TOKEN: TOKEN }, ['--http', '0', 'agent.yaml'])
    expect(spec.code).toBe(2)
    expect(spec.err).toContain('give no spec file')
  })
})
