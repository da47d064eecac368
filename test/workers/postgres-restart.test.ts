import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client } from '../../src/orchestrator/client.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { expectW4StoredOnce, startWorker, starts, stopWorker } from './worker-processes.js'
import { w4 } from './w4.js'

// PostgreSQL restarted mid-run: worker processes reconnect and finish every
// run, each result stored once. The server restarted is a private cluster this
// test creates (initdb on a free port), never the shared one other test files
// use at the same time. It needs PostgreSQL's server binaries and a way to run
// them as the postgres user (root with runuser, or the postgres user itself);
// without them it is skipped with a message saying so.

function serverBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  for (const v of readdirSync(root).sort().reverse())
    if (existsSync(join(root, v, 'bin/initdb'))) return join(root, v, 'bin')
  return undefined
}

const BIN = serverBin()
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0
const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p))
const why =
  BIN === undefined
    ? 'PostgreSQL server binaries (initdb, pg_ctl) are not installed'
    : asRoot && runuser === undefined
      ? 'runuser is missing'
      : undefined

/** Runs a server binary as the postgres user. */
function pg(tool: string, args: string[]): void {
  const bin = join(BIN!, tool)
  if (asRoot) execFileSync(runuser!, ['-u', 'postgres', '--', bin, ...args], { stdio: 'ignore', timeout: 60_000 })
  else execFileSync(bin, args, { stdio: 'ignore', timeout: 60_000 })
}

const suite = why === undefined ? describe : describe.skip
if (why !== undefined) console.warn(`[flotilla tests] skipping the PostgreSQL restart test: ${why}.`)

suite('PostgreSQL restarted while workers run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-pg-restart-'))
  const data = join(dir, 'data')
  const port = 40_000 + Math.floor(Math.random() * 20_000)
  const options = ['-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`]
  const url = `postgres://postgres@127.0.0.1:${port}/postgres?schema=flotilla`

  beforeAll(() => {
    if (asRoot)
      chownSync(
        dir,
        Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
        Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
      )
    pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres'])
    pg('pg_ctl', ['-D', data, ...options, '-l', join(dir, 'log'), '-w', 'start'])
  }, 60_000)

  afterAll(() => {
    try {
      pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('workers reconnect after a fast restart and finish every run; no stored result is computed twice', async () => {
    const side = join(dir, 'side.log')
    const client = await Client.connect(await openStoreAsync(url))
    try {
      const workers = await Promise.all([0, 1].map((k) => startWorker(url, `r${k}`, side, 150)))
      const RUNS = 12
      const ids: string[] = []
      for (let k = 0; k < RUNS; k++) ids.push(await client.start(w4(k)))
      await expect.poll(() => starts(side).length, { timeout: 20_000 }).toBeGreaterThan(10)
      // Every connection is closed by the server; it is back within a second or two.
      pg('pg_ctl', ['-D', data, ...options, '-m', 'fast', '-w', 'restart'])
      const atRestart = starts(side).length
      expect(atRestart).toBeLessThan(RUNS * 5) // the restart came mid-run
      for (const id of ids) {
        const result = await retryWhileDown(() => client.result(id, { timeoutMs: 60_000 }))
        expect(result.state).toBe('SUCCEEDED')
      }
      expect(starts(side).length).toBeGreaterThan(atRestart) // work went on after the restart
      await expectW4StoredOnce(client, ids, starts(side))
      await Promise.all(workers.map(stopWorker))
    } finally {
      await client.close()
      await client.store.close()
    }
  }, 120_000)
})

/** The test's own client may see the restart too: a call that fails while the server is down is tried again. */
async function retryWhileDown<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn()
    } catch (e) {
      if (i >= 20 || (e as { code?: string }).code !== 'STORE_UNAVAILABLE') throw e
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}
