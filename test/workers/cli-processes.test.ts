import { afterAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { runCli, spawnCli, tempDir, writeFiles, type BackgroundCli } from '../cli/run-cli.js'

// The CLI across terminals, each a real process on one SQLite file:
// `run --submit` hands a run to a `flotilla worker`; `runs pause` and
// `runs cancel` from a second terminal stop a run executing in the first.

const AGENTS = new URL('../fixtures/workers/agents.mjs', import.meta.url).pathname
const { dir, cleanup } = tempDir('flotilla-cli-procs-')
afterAll(cleanup)
const background: BackgroundCli[] = []
afterAll(() => {
  for (const b of background) b.child.kill('SIGKILL')
})

/** A chain a → b → … of `n` steps; step k adds 1 to the previous value. */
function chainYaml(name: string, n: number): string {
  const lines = [
    `name: ${name}`,
    `agents: ${AGENTS}`,
    'tasks:',
    '  - id: t0',
    '    agent: step',
    '    input: { seed: 5 }',
  ]
  for (let k = 1; k < n; k++)
    lines.push(
      `  - id: t${k}`,
      '    agent: step',
      '    input:',
      '      xs:',
      `        - $ref: tasks.t${k - 1}.output.v`,
      '      seed: 1',
    )
  return `${lines.join('\n')}\n`
}

function start(args: string[], sleepMs: number): BackgroundCli {
  const b = spawnCli(args, { cwd: dir, env: { FLOTILLA_TEST_SLEEP_MS: String(sleepMs), FLOTILLA_STORE: undefined } })
  background.push(b)
  return b
}

const runIdIn = (text: string): string => /run (run_[a-z0-9]+)/.exec(text)![1]

describe('flotilla run --submit', () => {
  it('stores the run for a worker process, follows it there, and prints the outputs; --detach returns at once; memory is refused', async () => {
    const store = `sqlite:${join(dir, 'submit.db')}`
    writeFiles(dir, { 'chain.yaml': chainYaml('submitted', 3) })
    const worker = start(['worker', '--store', store, '--agents', AGENTS, '--id', 'sw'], 20)
    await worker.waitFor(' ready on ')
    const followed = await runCli(['run', 'chain.yaml', '--submit', '--store', store], { cwd: dir, timeoutMs: 30_000 })
    expect(followed.code, followed.stderr).toBe(0)
    expect(followed.stdout).toMatch(/Submitted run run_\w+ of workflow "submitted" to the workers of /)
    expect(followed.stdout).toContain('task.succeeded t2')
    expect(followed.stdout).toMatch(/Run run_\w+ SUCCEEDED in .*: 3\/3 tasks succeeded/)
    expect(followed.stdout).toMatch(/t2: \{"v":7\}/)

    const detached = await runCli(['run', 'chain.yaml', '--submit', '--detach', '--json', '--store', store], {
      cwd: dir,
    })
    expect(detached.code, detached.stderr).toBe(0)
    const { runId } = JSON.parse(detached.stdout) as { runId: string }
    await expect
      .poll(
        async () =>
          JSON.parse((await runCli(['runs', 'show', runId, '--store', store, '--json'], { cwd: dir })).stdout).run
            .state,
        { timeout: 20_000 },
      )
      .toBe('SUCCEEDED')

    const memory = await runCli(['run', 'chain.yaml', '--submit', '--store', 'memory'], { cwd: dir })
    expect(memory.code).not.toBe(0)
    expect(memory.stderr).toContain('--submit needs a store that workers share')
    const detachAlone = await runCli(['run', 'chain.yaml', '--detach', '--store', store], { cwd: dir })
    expect(detachAlone.code).not.toBe(0)
    expect(detachAlone.stderr).toContain('--detach goes with --submit')
    worker.child.kill('SIGTERM')
    await worker.exited
  }, 60_000)

  it('warns when no live worker offers an agent, and the run waits for one', async () => {
    const store = `sqlite:${join(dir, 'unserved.db')}`
    writeFiles(dir, { 'one.yaml': chainYaml('unserved', 1) })
    const submitted = await runCli(['run', 'one.yaml', '--submit', '--detach', '--store', store], { cwd: dir })
    expect(submitted.code, submitted.stderr).toBe(0)
    expect(submitted.stderr).toContain('task "t0" needs agent "step" and no live worker offers it')
    const id = runIdIn(submitted.stdout)
    const worker = start(['worker', '--store', store, '--agents', AGENTS, '--id', 'late'], 5)
    await worker.waitFor(' ready on ')
    await expect
      .poll(
        async () =>
          JSON.parse((await runCli(['runs', 'show', id, '--store', store, '--json'], { cwd: dir })).stdout).run.state,
        { timeout: 20_000 },
      )
      .toBe('SUCCEEDED')
    worker.child.kill('SIGTERM')
    await worker.exited
  }, 60_000)
})

describe('control from another terminal', () => {
  it('runs pause stops the run executing in the first terminal, which says so; resume of a live run is refused; resume afterwards finishes it', async () => {
    const store = `sqlite:${join(dir, 'pause.db')}`
    writeFiles(dir, { 'slow.yaml': chainYaml('slow', 6) })
    const first = start(['run', 'slow.yaml', '--store', store, '--no-live'], 1000)
    await first.waitFor('task.started t1')
    const id = runIdIn(first.stdout())
    const live = await runCli(['runs', 'resume', id, '--store', store, '--no-live'], { cwd: dir })
    expect(live.code).toBe(1)
    expect(live.stderr).toContain('RUN_STATE_INVALID')
    expect(live.stderr).toContain('is executing in another process')
    const paused = await runCli(['runs', 'pause', id, '--store', store], { cwd: dir })
    expect(paused.code, paused.stderr).toBe(0)
    expect(await first.exited).toBe(1)
    expect(first.stdout()).toContain('run.paused by another process')
    expect(first.stdout()).toContain('was paused by another process')
    // The counts the first terminal printed equal the store's.
    const shown = JSON.parse((await runCli(['runs', 'show', id, '--store', store, '--json'], { cwd: dir })).stdout) as {
      run: { state: string }
      tasks: { state: string }[]
    }
    expect(shown.run.state).toBe('PAUSED')
    const succeeded = shown.tasks.filter((t) => t.state === 'SUCCEEDED').length
    expect(first.stdout()).toContain(`${succeeded} succeeded`)
    const resumed = await runCli(['runs', 'resume', id, '--store', store, '--no-live'], {
      cwd: dir,
      timeoutMs: 30_000,
      env: { FLOTILLA_TEST_SLEEP_MS: '5' },
    })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stdout).toMatch(/t5: \{"v":10\}/)
  }, 60_000)

  it('runs cancel aborts the running handler in the first terminal within a second', async () => {
    const store = `sqlite:${join(dir, 'cancel.db')}`
    writeFiles(dir, { 'long.yaml': chainYaml('long', 3) })
    const first = start(['run', 'long.yaml', '--store', store, '--no-live'], 20_000)
    await first.waitFor('task.started t0')
    const id = runIdIn(first.stdout())
    const t0 = Date.now()
    const cancelled = await runCli(['runs', 'cancel', id, '--store', store], { cwd: dir })
    expect(cancelled.code, cancelled.stderr).toBe(0)
    expect(await first.exited).toBe(1)
    expect(Date.now() - t0).toBeLessThan(5_000)
    expect(first.stdout()).toContain('cancelled by another process')
    const shown = JSON.parse((await runCli(['runs', 'show', id, '--store', store, '--json'], { cwd: dir })).stdout) as {
      run: { state: string }
    }
    expect(shown.run.state).toBe('CANCELLED')
  }, 60_000)
})
