import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newRunId } from '../../src/core/ids.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { ensureBuilt } from '../cli/run-cli.js'

// SIGKILL a real process during planning and during a child run (SQLite); a new process recovers both,
// and no model call that had completed (its answer journaled) is made again.

const WORKER = new URL('../fixtures/plan-crash-worker.mjs', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'flotilla-child-crash-'))
beforeAll(ensureBuilt)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs the worker; SIGKILLs it once `killWhen(sideFile)` holds, unless it ends first. */
function runWorker(
  args: string[],
  side: string,
  killWhen?: (side: string) => boolean,
): Promise<{ killed: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let killed = false
    const poll =
      killWhen === undefined
        ? undefined
        : setInterval(() => {
            if (!killed && killWhen(readFileSync(side, 'utf8'))) killed = child.kill('SIGKILL')
          }, 5)
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => {
      if (poll) clearInterval(poll)
      resolve({ killed: killed && code === null, stdout, stderr })
    })
  })
}

const lines = (side: string): string[] => readFileSync(side, 'utf8').split('\n').filter(Boolean)

async function crashThenRecover(name: string, killWhen: (side: string) => boolean) {
  const url = `sqlite:${join(dir, `${name}.db`)}`
  const side = join(dir, `${name}.log`)
  writeFileSync(side, '')
  const runId = newRunId()
  const first = await runWorker([url, side, runId], side, killWhen)
  expect(first.killed, first.stderr).toBe(true)
  const store = await openStoreAsync(url)
  const child = await store.getRun(`${runId}.plan` as never)
  const doneAtKill =
    child === undefined
      ? []
      : (await store.getTasks(child.id)).filter((t) => t.state === 'SUCCEEDED').map((t) => t.taskId)
  await store.close()
  const second = await runWorker([url, side, runId], side)
  const result = JSON.parse(
    second.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .at(-1) ?? '{}',
  ) as {
    state?: string
    plan?: Record<string, string>
  }
  expect(result.state, second.stderr).toBe('SUCCEEDED')
  expect(result.plan).toEqual(Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => [id, `done job ${id}`])))
  const after = await openStoreAsync(url)
  const children = await after.listRuns({ parentRunId: runId })
  await after.close()
  expect(children.map((c) => [c.id, c.state])).toEqual([[`${runId}.plan`, 'SUCCEEDED']])
  return { calls: lines(side), doneAtKill }
}

describe('child runs survive SIGKILL (SQLite)', () => {
  it('killed during a child run: the plan is not asked again, finished specialists are not run again', async () => {
    const { calls, doneAtKill } = await crashThenRecover(
      'child',
      (s) => (s.match(/^worker .* start/gm) ?? []).length >= 3,
    )
    expect(calls.filter((l) => l.startsWith('planner ')).length).toBe(1)
    expect(doneAtKill.length).toBeGreaterThan(0)
    for (const id of doneAtKill) expect(calls.filter((l) => l.startsWith(`worker job ${id} start`)).length).toBe(1)
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f'])
      expect(calls.filter((l) => l.startsWith(`worker job ${id} start`)).length).toBeLessThanOrEqual(2)
  }, 60_000)

  it('killed during planning: recovery plans and runs the child once', async () => {
    const { calls } = await crashThenRecover('planning', (s) => s.includes('planner plan start'))
    // The call in flight at the kill had not completed: asked again once, and each specialist runs once.
    expect(calls.filter((l) => l.startsWith('planner ')).length).toBe(2)
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f'])
      expect(calls.filter((l) => l.startsWith(`worker job ${id} start`)).length).toBe(1)
  }, 60_000)
})
