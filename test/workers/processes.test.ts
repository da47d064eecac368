import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { expectW4StoredOnce, LEASE_MS, startWorker, starts, stopWorker } from './worker-processes.js'
import { Client } from '../../src/orchestrator/client.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'
import { w4 } from './w4.js'

// Real worker processes (`flotilla worker`, from dist/) on one store: they
// share W4-style runs, survive SIGKILLs of their peers, and obey a pause
// written by this (fourth) process.

async function sharedWork(store: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-procs-'))
  const side = join(dir, 'side.log')
  const client = await Client.connect(await openStoreAsync(store))
  try {
    const workers = await Promise.all([0, 1, 2].map((k) => startWorker(store, `w${k}`, side)))
    const RUNS = 40
    const ids = []
    for (let k = 0; k < RUNS; k++) ids.push(await client.start(w4(k)))
    // Kill a worker twice mid-run (SIGKILL: no goodbye), starting a new one each time.
    for (let round = 0; round < 2; round++) {
      await expect.poll(() => starts(side).length, { timeout: 20_000 }).toBeGreaterThan(40 + round * 50)
      const victim = workers.shift()!
      victim.kill('SIGKILL')
      workers.push(await startWorker(store, `w${3 + round}`, side))
    }
    for (const id of ids) expect((await client.result(id, { timeoutMs: 60_000 })).state).toBe('SUCCEEDED')
    const lines = starts(side)
    await expectW4StoredOnce(client, ids, lines)
    // Work is shared: more than one process ran attempts (how many of the five get some
    // depends on the machine's load; a busy SQLite file favours whoever holds the lock).
    expect(new Set(lines.map((l) => l.pid)).size).toBeGreaterThanOrEqual(2)
    await Promise.all(workers.map(stopWorker))
  } finally {
    await client.close()
    await client.store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function pauseFromAnotherProcess(store: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-procs-'))
  const side = join(dir, 'side.log')
  const client = await Client.connect(await openStoreAsync(store))
  try {
    const worker = await startWorker(store, 'pw', side, 300)
    const tasks = Array.from({ length: 8 }, (_, i) => ({
      id: `t${i}`,
      agent: 'step',
      ...(i > 0 ? { dependsOn: [`t${i - 1}`] } : {}),
    }))
    const id = await client.start({ name: 'chain', tasks })
    await expect.poll(() => starts(side).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2)
    await client.pause(id)
    const atPause = starts(side).length
    // The attempt running when paused may finish; nothing new starts within a lease.
    await new Promise((r) => setTimeout(r, LEASE_MS))
    expect(starts(side).length).toBeLessThanOrEqual(atPause + 1)
    const frozen = starts(side).length
    await new Promise((r) => setTimeout(r, 800))
    expect(starts(side).length).toBe(frozen)
    await client.resume(id)
    expect((await client.result(id, { timeoutMs: 20_000 })).state).toBe('SUCCEEDED')
    await stopWorker(worker)
  } finally {
    await client.close()
    await client.store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('worker processes on one SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-procs-db-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('3 workers share W4 runs; SIGKILLed workers are taken over after the lease; every result stored once, none computed after it', async () => {
    await sharedWork(`sqlite:${join(dir, 'shared.db')}`)
  }, 120_000)

  it('a pause written by another process stops new starts on the executing worker; resume finishes the run', async () => {
    await pauseFromAnotherProcess(`sqlite:${join(dir, 'pause.db')}`)
  }, 60_000)
})

await describePostgres('worker processes on PostgreSQL', () => {
  it('3 workers share W4 runs; SIGKILLed workers are taken over after the lease; every result stored once, none computed after it', async () => {
    await withFreshSchema((url) => sharedWork(url))
  }, 120_000)

  it('a pause written by another process stops new starts on the executing worker; resume finishes the run', async () => {
    await withFreshSchema((url) => pauseFromAnotherProcess(url))
  }, 60_000)
})
