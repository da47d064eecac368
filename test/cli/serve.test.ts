import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, MAIN, ROOT, runCli, spawnCli, tempDir, type BackgroundCli } from './run-cli.js'

/**
 * `flotilla serve` as a child process on a free port, called over real HTTP:
 * the walk-through of docs/security.md (its files, its calls with fetch, and
 * its shell blocks as pasted when curl and jq are there), the printed ADMIN
 * key, FLOTILLA_ADMIN_KEY, and a graceful stop on SIGTERM and SIGINT.
 */
const DOC = readFileSync(join(ROOT, 'docs/security.md'), 'utf8')
const KEY = /flt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}/
const READY = 'Ctrl-C or SIGTERM stops it.'
const tmp = tempDir('flotilla-serve-')
const dir = tmp.dir

/** The fenced blocks of docs/security.md with the snippet marker before each. */
function docBlocks(): { marker: string; lang: string; code: string }[] {
  const out: { marker: string; lang: string; code: string }[] = []
  const re = /(?:<!-- snippet: (.*?) -->\n)?```(\w*)\n([\s\S]*?)\n```/g
  for (let m = re.exec(DOC); m !== null; m = re.exec(DOC))
    out.push({ marker: m[1] ?? '', lang: m[2] ?? '', code: `${m[3] ?? ''}\n` })
  return out
}

/** What `flotilla serve` printed when it became ready. */
interface Started {
  cli: BackgroundCli
  url: string
  adminKey: string | undefined
}

async function serve(args: string[], env: Record<string, string | undefined> = {}): Promise<Started> {
  const cli = spawnCli(['serve', '--port', '0', ...args], { cwd: dir, env })
  await cli.waitFor(READY, 20_000)
  const url = /listening on (http:\/\/\S+)/.exec(cli.stdout())?.[1]
  if (url === undefined) throw new Error(`no URL in: ${cli.stdout()}`)
  return { cli, url, adminKey: KEY.exec(cli.stdout())?.[0] }
}

/** Sends `signal`; resolves with the exit code and how long the process took to end. */
async function stop(s: Started, signal: NodeJS.Signals): Promise<{ code: number | string; ms: number }> {
  const t0 = Date.now()
  s.cli.child.kill(signal)
  const code = await s.cli.exited
  return { code, ms: Date.now() - t0 }
}

function api(s: Started, path: string, key?: string, init: RequestInit & { json?: unknown } = {}) {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) }
  if (key !== undefined) headers.authorization = `Bearer ${key}`
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  return fetch(`${s.url}/api/v1${path}`, {
    ...init,
    headers,
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  })
}

function has(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

let main: Started
let mainStopped = false

beforeAll(async () => {
  ensureBuilt()
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(ROOT, join(dir, 'node_modules', 'flotilla'), 'dir')
  mkdirSync(join(dir, 'bin'))
  writeFileSync(join(dir, 'bin/flotilla'), `#!/bin/sh\nexec "${process.execPath}" "${MAIN}" "$@"\n`, { mode: 0o755 })
  for (const b of docBlocks()) {
    const file = /^file (\S+)$/.exec(b.marker)?.[1]
    if (file === undefined) continue
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), b.code)
  }
  main = await serve(['--store', join(dir, 'serve.db'), '--workflows', 'workflows', '--agents', 'agents.mjs'])
}, 60_000)

afterAll(async () => {
  if (!mainStopped) main?.cli.child.kill('SIGKILL')
  tmp.cleanup()
})

describe('flotilla serve', () => {
  it('prints the new ADMIN key once with a warning, the URL, the workflows and the worker', () => {
    const out = main.cli.stdout()
    expect(main.adminKey).toMatch(KEY)
    expect(out.match(new RegExp(KEY.source, 'g'))).toHaveLength(1)
    expect(out).toContain('It is shown ONLY ONCE')
    expect(out).toContain('it cannot be shown again')
    expect(main.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(out).toMatch(/workflows\s+hello/)
    expect(out).toMatch(/worker\s+wkr_\S+: greeter@1\.0\.0 \(concurrency 16\)/)
  })

  it('answers health without a key, and refuses calls without a key or with a wrong one', async () => {
    expect((await api(main, '/health')).status).toBe(200)
    const none = await api(main, '/runs')
    expect(none.status).toBe(401)
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('AUTH_REQUIRED')
    const wrong = await api(main, '/runs', `flt_abcdefabcdef_${'x'.repeat(43)}`)
    expect(wrong.status).toBe(401)
    const who = await api(main, '/security/whoami', main.adminKey)
    expect(await who.json()).toMatchObject({ name: 'admin', role: 'ADMIN' })
  })

  it('does the calls of the walk-through in docs/security.md: a SERVICE key starts a run, a worker runs it', async () => {
    const created = await api(main, '/security/keys', main.adminKey, {
      method: 'POST',
      json: { name: 'my-program', role: 'SERVICE', ttlMs: 2_592_000_000 },
    })
    expect(created.status).toBe(201)
    const { key, info } = (await created.json()) as { key: string; info: { id: string; role: string } }
    expect(key).toMatch(KEY)
    const start = () =>
      api(main, '/workflows/hello/runs', key, {
        method: 'POST',
        headers: { 'idempotency-key': 'hello-ada-fetch' },
        json: { input: { name: 'Ada' } },
      })
    const first = await start()
    expect(first.status).toBe(201)
    const run = (await first.json()) as { id: string }
    let state = ''
    for (let i = 0; i < 40 && !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(state); i++) {
      await new Promise((r) => setTimeout(r, 250))
      state = ((await (await api(main, `/runs/${run.id}`, key)).json()) as { state: string }).state
    }
    expect(state).toBe('SUCCEEDED')
    const tasks = (await (await api(main, `/runs/${run.id}/tasks`, key)).json()) as { tasks: unknown[] }
    expect(tasks.tasks).toEqual([
      expect.objectContaining({ taskId: 'greet', state: 'SUCCEEDED', output: { greeting: 'Hello, Ada!' } }),
    ])
    const again = await start()
    expect(again.status).toBe(200)
    expect(((await again.json()) as { id: string }).id).toBe(run.id)
    const cancel = await api(main, `/runs/${run.id}/cancel`, key, { method: 'POST' })
    expect(cancel.status).toBe(403)

    const audit = (await (await api(main, '/security/audit?action=run.start', main.adminKey)).json()) as {
      entries: { actor: string; outcome: string }[]
    }
    expect(audit.entries).toContainEqual(expect.objectContaining({ actor: `key:${info.id}`, outcome: 'succeeded' }))
    const verify = await api(main, '/security/audit/verify', main.adminKey, { method: 'POST' })
    expect(await verify.json()).toMatchObject({ ok: true })
  })

  it.skipIf(!has('curl') || !has('jq'))('runs the shell blocks of the walk-through as pasted', async () => {
    const blocks = docBlocks().filter((b) => b.lang === 'sh' && b.marker.includes('serve.test.ts runs this block'))
    expect(blocks).toHaveLength(3)
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'bash',
        ['-e', '-o', 'pipefail', '-c', blocks.map((b) => b.code).join('\n')],
        {
          cwd: dir,
          timeout: 30_000,
          env: {
            ...process.env,
            PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`,
            FLOTILLA_URL: main.url,
            ADMIN_KEY: main.adminKey,
          },
        },
        (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stdout}\n${stderr}`)) : resolve(stdout)),
      ),
    )
    expect(out).toMatch(/^started run_\S+$/m)
    expect(out).toContain('{"taskId":"greet","state":"SUCCEEDED","output":{"greeting":"Hello, Ada!"}}')
    expect(out).toContain('greet: {"greeting":"Hello, Grace!"}')
    expect(out).toMatch(/run_\S+\s+hello\s+SUCCEEDED/)
    expect(out).toMatch(/"actor":"key:[a-z0-9]{12}","action":"run\.start"/)
    expect(out).toContain('"ok":true')
  })

  it('stops gracefully on SIGTERM: exit 0 within a few seconds', async () => {
    const { code, ms } = await stop(main, 'SIGTERM')
    mainStopped = true
    expect(code, main.cli.stderr()).toBe(0)
    expect(ms).toBeLessThan(5000)
    expect(main.cli.stdout()).toContain('flotilla serve: SIGTERM, stopping')
    expect(main.cli.stdout()).toContain('flotilla serve: stopped')
  })

  it('on a store that keeps its keys, a restart creates no new ADMIN key and the first one still works', async (t) => {
    const again = await serve(['--store', join(dir, 'serve.db')])
    try {
      if (again.cli.stderr().includes('keeps no API keys')) t.skip('the SQLite backend keeps no API keys yet')
      expect(again.adminKey).toBeUndefined()
      expect(again.cli.stdout()).toMatch(/worker\s+none/)
      expect((await api(again, '/security/whoami', main.adminKey)).status).toBe(200)
    } finally {
      expect((await stop(again, 'SIGINT')).code).toBe(0)
    }
  })
})

describe('flotilla serve with FLOTILLA_ADMIN_KEY', () => {
  it('imports a key generated as docs/security.md shows, prints none, and stops on SIGINT', async () => {
    const line = DOC.split('\n').find((l) => l.startsWith('export FLOTILLA_ADMIN_KEY='))
    expect(line).toBeDefined()
    const key = execFileSync('bash', ['-c', `${line}\necho "$FLOTILLA_ADMIN_KEY"`], { encoding: 'utf8' }).trim()
    expect(key).toMatch(new RegExp(`^${KEY.source}$`))
    const s = await serve(['--store', 'memory'], { FLOTILLA_ADMIN_KEY: key })
    try {
      expect(s.adminKey).toBeUndefined()
      expect(s.cli.stdout()).toContain('The ADMIN key of FLOTILLA_ADMIN_KEY is in place.')
      expect(s.cli.stderr()).toContain('keeps no API keys or audit log')
      expect(await (await api(s, '/security/whoami', key)).json()).toMatchObject({ role: 'ADMIN' })
    } finally {
      const { code, ms } = await stop(s, 'SIGINT')
      expect(code).toBe(0)
      expect(ms).toBeLessThan(5000)
    }
  })
})

describe('flotilla serve, refused', () => {
  it('usage errors exit 2: --worker without --agents, a bad port, agents on PostgreSQL without --worker', async () => {
    const noAgents = await runCli(['serve', '--worker', '--store', 'memory'])
    expect(noAgents.code).toBe(2)
    expect(noAgents.stderr).toContain('--worker needs the agents it runs')
    const port = await runCli(['serve', '--port', '70000', '--store', 'memory'])
    expect(port.code).toBe(2)
    expect(port.stderr).toContain('--port must be a whole number from 0 to 65535')
    const pg = await runCli(['serve', '--agents', 'a.mjs', '--store', 'postgres://u@127.0.0.1:1/x'])
    expect(pg.code).toBe(2)
    expect(pg.stderr).toContain('add --worker')
  })

  it('a port in use exits 1 saying so', async () => {
    const taken = createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    const port = (taken.address() as { port: number }).port
    try {
      const r = await runCli(['serve', '--port', String(port), '--store', 'memory'])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`Port ${port} on 127.0.0.1 is in use`)
    } finally {
      taken.close()
    }
  })
})
