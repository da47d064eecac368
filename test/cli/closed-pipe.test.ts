import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { defineAgent } from '../../src/agents/define-agent.js'
import { childEnv, ensureBuilt, MAIN, ROOT, tempDir } from './run-cli.js'

// `flotilla runs show … | head`: the reader closes the pipe after a few lines; the CLI ends quietly (exit 0, no stack).

const { dir, cleanup } = tempDir('flotilla-closed-pipe-')
const db = join(dir, 'runs.db')
let runId = ''

beforeAll(async () => {
  ensureBuilt()
  const o = await Orchestrator.open(db)
  await o.register(defineAgent({ name: 'echo', handler: (x: unknown) => Promise.resolve({ x, pad: 'y'.repeat(200) }) }))
  const tasks = Array.from({ length: 2000 }, (_, i) => ({ id: `task-${i}`, agent: 'echo', input: i }))
  runId = (await o.run({ name: 'big', tasks })).runId
  await o.close()
}, 60_000)
afterAll(cleanup)

/** Runs the CLI, reads its first chunk of output, then closes the pipe as `head` does. */
function readFirstChunk(args: string[]): Promise<{ code: number | null; stderr: string; first: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: childEnv() })
  let stderr = ''
  let first = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  child.stdout.once('data', (c: Buffer) => {
    first = c.toString()
    child.stdout.destroy()
  })
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr, first })))
}

describe('a reader that closes the pipe early', () => {
  it.each([
    ['text', [] as string[]],
    ['--json', ['--json']],
  ])(
    'runs show (%s) exits 0 without an EPIPE stack',
    async (_name, extra) => {
      const r = await readFirstChunk(['runs', 'show', runId, '--store', db, ...extra])
      expect(r.first.length).toBeGreaterThan(0)
      expect(r.stderr).not.toMatch(/EPIPE|Unhandled/)
      expect(r.code).toBe(0)
    },
    60_000,
  )
})
