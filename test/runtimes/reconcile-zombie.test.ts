import { asAgentId } from '../../src/core/ids.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { processAlive, reconcileAgents } from '../../src/runtimes/reconcile.js'
import type { AgentRecord } from '../../src/store/records.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

const linux = process.platform === 'linux'
const started: ChildProcess[] = []

afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL')
})

/**
 * A real zombie: `sh` starts a short `sleep` in the background, prints its
 * pid, then becomes a long `sleep`, which never waits for its child: once the
 * short one exits (after the shell is gone, so the shell cannot reap it), it
 * stays exited but unreaped.
 */
async function zombie(): Promise<number> {
  const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] })
  started.push(parent)
  const pid = await new Promise<number>((resolve) =>
    parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  )
  for (let i = 0; i < 1000; i++) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return pid
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`process ${pid} did not become a zombie`)
}

async function seed(store: MemoryStore, id: string, pid: number): Promise<void> {
  const base: AgentRecord = {
    id: asAgentId(id),
    name: id,
    version: '1.0.0',
    parentId: null,
    runtime: 'process',
    state: 'PENDING',
    reason: null,
    spec: {},
    permissions: [],
    limits: {},
    pid: null,
    createdAt: 1,
    updatedAt: 1,
  }
  await store.saveAgent(base, { from: null, to: 'PENDING', reason: 'deploy', at: 1 })
  await store.saveAgent({ ...base, state: 'RUNNING', pid }, { from: 'PENDING', to: 'RUNNING', reason: null, at: 1 })
}

describe.skipIf(!linux)('reconcile and zombie processes (Linux: /proc/<pid>/stat)', () => {
  it('treats an exited but unreaped (zombie) agent process as gone, and a running one as alive', async () => {
    const pid = await zombie()
    // kill(pid, 0) succeeds on a zombie: that alone would call it alive.
    expect(() => process.kill(pid, 0)).not.toThrow()
    expect(processAlive(pid)).toBe(false)
    expect(processAlive(process.pid)).toBe(true)
    expect(processAlive(started[0].pid!)).toBe(true) // the sleeping parent

    const store = new MemoryStore()
    await seed(store, 'agt_zombie', pid)
    await seed(store, 'agt_live', process.pid)
    const failed = await reconcileAgents(store, () => false, { now: 2 })
    expect(failed.map((r) => r.id)).toEqual(['agt_zombie'])
    expect(await store.getAgent('agt_zombie')).toMatchObject({
      state: 'FAILED',
      pid: null,
      reason: expect.stringMatching(new RegExp(`process ${pid} is gone`)),
    })
    expect((await store.getAgent('agt_live'))?.state).toBe('RUNNING')
  })
})
