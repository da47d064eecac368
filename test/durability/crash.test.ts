import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { newRunId } from '../../src/core/ids.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import type { Store } from '../../src/store/store.js'
import { postgresAvailable, withFreshSchema } from '../helpers/postgres.js'

const WORKER = new URL('../fixtures/crash-worker.mjs', import.meta.url).pathname
const LAYERS = 10
const WIDTH = 30

/** The expected `v` of every task, computed the way the workflow does. */
function expected(): { values: Map<string, number>; sum: number } {
  const values = new Map<string, number>()
  for (let k = 0; k < LAYERS; k++) {
    for (let j = 0; j < WIDTH; j++) {
      const deps = k === 0 ? [] : [j, (j + 7) % WIDTH].map((p) => values.get(`t${k - 1}_${p}`)!)
      values.set(`t${k}_${j}`, deps.reduce((a, b) => a + b, 0) + 1)
    }
  }
  let sum = 1
  for (let j = 0; j < WIDTH; j++) sum += values.get(`t${LAYERS - 1}_${j}`)!
  values.set('sum', sum)
  return { values, sum }
}

/** Runs the worker; kills it with SIGKILL `killAfterMs` after it reports that the run is executing, unless it finishes first. */
function runWorker(
  args: string[],
  killAfterMs: number | undefined,
): Promise<{ killed: boolean; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let killed = false
    let timer: NodeJS.Timeout | undefined
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (killAfterMs !== undefined && timer === undefined && stdout.includes('ready\n')) {
        timer = setTimeout(() => (killed = child.kill('SIGKILL')), killAfterMs)
      }
    })
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer)
      resolve({ killed: killed && code === null, code, stdout, stderr })
    })
  })
}

/** Kills the run many times at random moments, recovering each time, then checks what was stored and what ran. */
async function crashAndRecover(storeUrl: string, open: () => Promise<Store>, dir: string): Promise<void> {
  const side = join(dir, 'side.log')
  writeFileSync(side, '')
  const runId = newRunId()
  let kills = 0
  // Processes that ran a task so far (from the side file), and kills in a row after which no more had.
  const workers = (): number =>
    new Set(
      readFileSync(side, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[2]),
    ).size
  let idle = 0
  let outcome = await runWorker([storeUrl, side, runId], Math.floor(Math.random() * 60))
  if (outcome.killed) kills++
  for (
    let round = 0;
    round < 60 && (outcome.killed || outcome.code !== 0 || !outcome.stdout.includes(runId));
    round++
  ) {
    if (!outcome.killed && outcome.code !== 0)
      throw new Error(`worker failed (exit ${outcome.code}): ${outcome.stderr}`)
    // Kill the first dozen recoveries at random moments, until at least four processes have run tasks; then let one
    // finish. A loaded machine may kill a process before its first task: each such kill waits 50 ms longer next time.
    const before = workers()
    const killAfter = kills < 12 || before < 4 ? Math.floor(Math.random() * 60) + idle * 50 : undefined
    outcome = await runWorker([storeUrl, side, runId], killAfter)
    if (outcome.killed) kills++
    idle = workers() > before ? 0 : idle + 1
  }
  expect(outcome.code).toBe(0)
  expect(kills).toBeGreaterThanOrEqual(5)
  const line = outcome.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { runId: string; state: string; sum: { v: number } })
    .find((r) => r.runId === runId)
  const { values, sum } = expected()
  expect(line).toEqual({ runId, state: 'SUCCEEDED', sum: { v: sum } })

  const store = await open()
  try {
    const run = await store.getRun(runId as never)
    expect(run?.state).toBe('SUCCEEDED')
    const tasks = await store.getTasks(runId as never)
    expect(tasks).toHaveLength(LAYERS * WIDTH + 1)
    // Attempts that ran, per task, from the side file.
    const ran = new Map<string, number[]>()
    const pids = new Set<string>()
    for (const l of readFileSync(side, 'utf8').split('\n').filter(Boolean)) {
      const [key, attempt, pid] = l.split(' ')
      pids.add(pid)
      const taskId = key.slice(runId.length + 1)
      expect(key.startsWith(`${runId}:`)).toBe(true)
      ran.set(taskId, [...(ran.get(taskId) ?? []), Number(attempt)])
    }
    // The work really was spread over killed processes, not done by one survivor.
    expect(pids.size).toBeGreaterThanOrEqual(4)
    for (const t of tasks) {
      expect(t.state).toBe('SUCCEEDED')
      expect((t.output as { v: number }).v).toBe(values.get(t.taskId))
      const attempts = ran.get(t.taskId) ?? []
      // The stored result comes from the last attempt that ran: no attempt ran after it was stored.
      expect(attempts.length).toBeGreaterThan(0)
      expect(Math.max(...attempts)).toBe(t.attempt)
      expect(attempts.filter((a) => a === t.attempt)).toHaveLength(1)
    }
  } finally {
    await store.close()
  }
}

describe('crash test: SIGKILL at random moments, then recover', () => {
  const dirs: string[] = []
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('SQLite: every task has exactly one stored result, the output is right, nothing stored ran again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-crash-'))
    dirs.push(dir)
    const url = `sqlite:${join(dir, 'crash.db')}`
    await crashAndRecover(url, () => openStoreAsync(url), dir)
  }, 240_000)

  it('PostgreSQL: the same', async (ctx) => {
    if (!(await postgresAvailable())) {
      if (process.env.CI) throw new Error('PostgreSQL is not reachable at 127.0.0.1:5432; CI must provide it.')
      console.warn('skipping the PostgreSQL crash test: no PostgreSQL at 127.0.0.1:5432')
      return ctx.skip()
    }
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-crash-'))
    dirs.push(dir)
    await withFreshSchema(async (url) => crashAndRecover(url, () => openStoreAsync(url), dir))
  }, 240_000)
})
