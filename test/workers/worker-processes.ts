import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { afterAll, expect } from 'vitest'
import type { Client } from '../../src/orchestrator/client.js'
import { w4Expected } from './w4.js'

// Real `flotilla worker` processes (from dist/) for the multi-process tests,
// and the side file their agents write ("start <key> <attempt> <pid>").

export const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname
export const AGENTS = new URL('../fixtures/workers/agents.mjs', import.meta.url).pathname
export const LEASE_MS = 1500
const children = new Set<ChildProcess>()

afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
})

/** Starts `flotilla worker` (with the agents of `options.agents`, default {@link AGENTS}); resolves once it says it is ready. */
export function startWorker(
  store: string,
  id: string,
  side: string,
  sleepMs = 20,
  options: { agents?: string; env?: Record<string, string>; concurrency?: number } = {},
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--store',
      store,
      '--agents',
      options.agents ?? AGENTS,
      '--id',
      id,
      '--lease-ms',
      String(LEASE_MS),
      '--concurrency',
      String(options.concurrency ?? 8),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        FLOTILLA_TEST_SIDE_FILE: side,
        FLOTILLA_TEST_SLEEP_MS: String(sleepMs),
        ...(options.env ?? {}),
      },
    },
  )
  children.add(child)
  child.on('exit', () => children.delete(child))
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes(' ready on ')) resolve(child)
    })
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', (code) => reject(new Error(`worker ${id} exited (${code}) before it was ready: ${out}${err}`)))
  })
}

export function stopWorker(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.on('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

/** `start <key> <attempt> <pid>` lines of the side file. */
export function starts(side: string): { key: string; attempt: number; pid: number }[] {
  if (!existsSync(side)) return []
  return readFileSync(side, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, key, attempt, pid] = l.split(' ')
      return { key, attempt: Number(attempt), pid: Number(pid) }
    })
}

/**
 * Every W4 run `ids[k]` stored the right outputs, no attempt started twice,
 * and nothing started after the stored result's attempt (`lines` from the
 * side file).
 */
export async function expectW4StoredOnce(
  client: Client,
  ids: readonly string[],
  lines: ReturnType<typeof starts>,
): Promise<void> {
  for (const [k, id] of ids.entries()) {
    const want = w4Expected(k)
    for (const t of await client.getTasks(id)) {
      expect(t.output).toEqual({ v: want[t.taskId] })
      const mine = lines.filter((l) => l.key === `${id}:${t.taskId}`)
      expect(new Set(mine.map((l) => l.attempt)).size).toBe(mine.length)
      expect(Math.max(...mine.map((l) => l.attempt))).toBe(t.attempt)
    }
  }
}
