import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, it } from 'vitest'
import {
  agentImports,
  ensureBuilt,
  hasStack,
  runCli,
  spawnCli,
  tempDir,
  writeFiles,
  type CliResult,
} from './run-cli.js'

const tmp = tempDir('flotilla-runs-')
const dir = tmp.dir
const f = (name: string): string => join(dir, name)

/**
 * Agents that append `runId:taskId:attempt` to the side file named by their
 * input, so a test sees what ran. `step` hangs on its first attempt when its
 * input says `hang: true` (the process is then killed), after a durable step
 * (`ctx.step`) that appends the task's key to `<side>.steps`.
 */
const AGENTS = `${agentImports()}import { appendFileSync } from 'node:fs'
const log = (input, ctx) => appendFileSync(input.side, ctx.idempotencyKey + ':' + ctx.attempt + '\\n')
export const record = defineAgent({ name: 'record', handler: (input, ctx) => { log(input, ctx); return { n: input.n, x: input.x, up: input.up } } })
export const step = defineAgent({ name: 'step', handler: async (input, ctx) => {
  log(input, ctx)
  if (input.hang === true) await ctx.step('charge', () => appendFileSync(input.side + '.steps', ctx.idempotencyKey + '\\n'))
  if (input.hang === true && ctx.attempt === 1) await new Promise((resolve) => setTimeout(resolve, 60_000))
  return { x: input.x, keep: input.keep, up: input.up }
} })
export const other = defineAgent({ name: 'other', handler: (input, ctx) => { log(input, ctx); return { other: true, x: input.x } } })
`

/** a → b → c; b hangs on its first attempt when the run input says hang=true. */
const WORKFLOW = `name: durable
agents: ./agents.mjs
inputs:
  side: { type: string, required: true }
  hang: { type: boolean, default: false }
tasks:
  - id: a
    agent: record
    input: { side: { $ref: input.side }, n: 1 }
  - id: b
    agent: step
    input: { side: { $ref: input.side }, hang: { $ref: input.hang }, x: 1, keep: kept, up: { $ref: tasks.a.output.n } }
  - id: c
    agent: record
    input: { side: { $ref: input.side }, n: 3, up: { $ref: tasks.b.output.x } }
`

beforeAll(() => {
  ensureBuilt()
  mkdirSync(f('moved'))
  writeFiles(dir, {
    'agents.mjs': AGENTS,
    'durable.yaml': WORKFLOW,
    'moved/agents.mjs': AGENTS,
    'moved/durable.yaml': WORKFLOW,
  })
})

afterAll(() => tmp.cleanup())

interface RunJson {
  id: string
  workflow: string
  state: string
  parentRunId: string | null
  tasks: { total: number; done: number }
}
interface ShowJson {
  run: RunJson & { error: { code: string; message: string } | null }
  tasks: { id: string; state: string; attempts: number; agent: string | null; output: unknown }[]
  events: { seq: number; type: string }[]
}

function json<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`)
  }
}

/** Lines of a side file: `runId:taskId:attempt`. */
function ran(side: string): string[] {
  return existsSync(side) ? readFileSync(side, 'utf8').trim().split('\n').filter(Boolean) : []
}

/** How many times task `taskId` of `runId` ran, by the side file. */
function count(side: string, runId: string, taskId: string): number {
  return ran(side).filter((l) => l.startsWith(`${runId}:${taskId}:`)).length
}

/** How many times the durable step of b (in `runId`) ran, by `<side>.steps`. */
function steps(side: string, runId: string): number {
  const file = `${side}.steps`
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith(`${runId}:`)).length
    : 0
}

/** Runs the workflow to the end in a child process; returns its run id. */
async function runToEnd(store: string, side: string): Promise<string> {
  const r = await runCli(['run', f('durable.yaml'), '--store', store, '--input', `side=${side}`, '--json'])
  if (r.code !== 0) throw new Error(`run failed: ${r.stdout}\n${r.stderr}`)
  return json<{ runId: string }>(r).runId
}

/**
 * Starts `flotilla run` on the workflow with b hanging, waits until the run
 * is stored RUNNING with a done and b started, and kills the process with
 * SIGKILL. Returns the run id.
 */
async function runAndKill(store: string, side: string, workflow = f('durable.yaml')): Promise<string> {
  const cli = spawnCli(['run', workflow, '--store', store, '--input', `side=${side}`, '--input', 'hang=true'])
  try {
    await cli.waitFor('task.started b')
    const runId = /run\.started .* run (\S+)/.exec(cli.stdout())?.[1]
    if (runId === undefined) throw new Error(`no run id in: ${cli.stdout()}`)
    for (let i = 0; steps(side, runId) === 0; i++) {
      if (i === 400) throw new Error('the durable step of b was never taken')
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const listed = json<RunJson[]>(await runCli(['runs', 'list', '--store', store, '--json']))
    const run = listed.find((r) => r.id === runId)
    if (run?.state !== 'RUNNING' || run.tasks.done !== 1)
      throw new Error(`expected the run RUNNING with 1 task done: ${JSON.stringify(listed)}`)
    return runId
  } finally {
    cli.child.kill('SIGKILL')
    await cli.exited
  }
}

const show = async (store: string, id: string): Promise<ShowJson> =>
  json<ShowJson>(await runCli(['runs', 'show', id, '--store', store, '--json']))

describe.concurrent('stored runs', { timeout: 60_000 }, () => {
  it('stores "flotilla run" by default; "runs list" and "runs show" report it', async ({ expect }) => {
    const store = `sqlite:${f('list.db')}`
    const side = f('list.side')
    const plain = await runCli(['run', f('durable.yaml'), '--store', store, '--input', `side=${side}`])
    expect(plain.code, plain.stderr).toBe(0)
    const runId = /Run (run_\S+) of workflow/.exec(plain.stdout)?.[1]
    expect(plain.stdout).toContain(`stored in      ${f('list.db')}`)
    expect(plain.stdout).toContain(`flotilla runs show ${runId}`)

    const listed = json<RunJson[]>(await runCli(['runs', 'list', '--store', store, '--json']))
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({
      id: runId,
      workflow: 'durable',
      state: 'SUCCEEDED',
      parentRunId: null,
      tasks: { total: 3, done: 3 },
    })

    const table = await runCli(['runs', 'list', '--store', store])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(
      new RegExp(
        `^ID +WORKFLOW +STATE +CREATED +DURATION +TASKS\\n${runId} +durable +SUCCEEDED +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +\\S+ ms +3/3\\n$`,
      ),
    )

    const filtered = json<RunJson[]>(
      await runCli(['runs', 'list', '--store', store, '--json', '--state', 'failed,cancelled']),
    )
    expect(filtered).toEqual([])
    expect(
      json<RunJson[]>(
        await runCli(['runs', 'list', '--store', store, '--json', '--workflow', 'durable', '--limit', '1']),
      ),
    ).toHaveLength(1)

    const shown = await show(store, runId!)
    expect(shown.run).toMatchObject({ id: runId, state: 'SUCCEEDED', workflow: 'durable' })
    expect(shown.tasks.map((t) => [t.id, t.state, t.attempts, t.agent])).toEqual([
      ['a', 'SUCCEEDED', 1, 'record@1.0.0'],
      ['b', 'SUCCEEDED', 1, 'step@1.0.0'],
      ['c', 'SUCCEEDED', 1, 'record@1.0.0'],
    ])
    expect(shown.tasks[1].output).toEqual({ x: 1, keep: 'kept', up: 1 })
    expect(shown.events[0]).toMatchObject({ seq: 1, type: 'run.started' })
    expect(shown.events.at(-1)).toMatchObject({ type: 'run.succeeded' })

    const text = await runCli(['runs', 'show', runId!, '--store', store])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`Run ${runId} of workflow "durable": SUCCEEDED`)
    expect(text.stdout).toMatch(/TASK +STATE +ATTEMPTS +AGENT +DURATION +ERROR/)
    expect(text.stdout).toMatch(/ b +SUCCEEDED +1 +step@1\.0\.0 /)
    expect(text.stdout).toMatch(/\n {2}output\n {4}c: \S/)
    expect(text.stdout).not.toMatch(/^ {4}b: /m)
    expect(text.stdout).toMatch(/\d\d:\d\d:\d\d run\.succeeded/)
  })

  it('uses FLOTILLA_STORE, else .flotilla/flotilla.db in the current folder', async ({ expect }) => {
    const here = f('default-cwd')
    mkdirSync(here)
    const side = f('default.side')
    const byDefault = await runCli(['run', f('durable.yaml'), '--input', `side=${side}`, '--json'], {
      cwd: here,
      env: { FLOTILLA_STORE: undefined },
    })
    expect(byDefault.code, byDefault.stderr).toBe(0)
    expect(existsSync(join(here, '.flotilla/flotilla.db'))).toBe(true)
    const listed = json<RunJson[]>(
      await runCli(['runs', 'list', '--json'], { cwd: here, env: { FLOTILLA_STORE: undefined } }),
    )
    expect(listed.map((r) => r.id)).toEqual([json<{ runId: string }>(byDefault).runId])

    const byEnv = await runCli(['run', f('durable.yaml'), '--input', `side=${side}`, '--json'], {
      cwd: here,
      env: { FLOTILLA_STORE: `sqlite:${f('env.db')}` },
    })
    expect(byEnv.code, byEnv.stderr).toBe(0)
    expect(json<RunJson[]>(await runCli(['runs', 'list', '--json', '--store', f('env.db')])).map((r) => r.id)).toEqual([
      json<{ runId: string }>(byEnv).runId,
    ])
  })

  it('"flotilla recover" finishes a run whose process was killed, without running its succeeded tasks again', async ({
    expect,
  }) => {
    const store = `sqlite:${f('recover.db')}`
    const side = f('recover.side')
    const runId = await runAndKill(store, side)
    expect(count(side, runId, 'a')).toBe(1)
    expect(count(side, runId, 'c')).toBe(0)

    const r = await runCli(['recover', '--store', store])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toContain(`run.recovered ${runId} (1/3 tasks already done)`)
    expect(r.stdout).toContain('task.started b on step@1.0.0 (attempt 2)')
    expect(r.stdout).toMatch(new RegExp(`Run ${runId} of workflow "durable": SUCCEEDED`))
    expect(r.stdout).toContain('Recovered 1 run from')

    expect(ran(side).filter((l) => l.startsWith(runId))).toEqual([
      `${runId}:a:1`,
      `${runId}:b:1`,
      `${runId}:b:2`,
      `${runId}:c:1`,
    ])
    // The durable step b took before the kill is replayed from the store's journal, not taken again.
    expect(steps(side, runId)).toBe(1)
    const shown = await show(store, runId)
    expect(shown.run.state).toBe('SUCCEEDED')
    expect(shown.tasks.find((t) => t.id === 'c')?.output).toEqual({ n: 3, up: 1 })

    const again = await runCli(['runs', 'resume-all', '--store', store, '--json'])
    expect(again.code).toBe(0)
    expect(json(again)).toEqual({ ok: true, runs: [], errors: [], paused: [] })
  })

  it('"flotilla recover" resumes every unfinished run of the store, each line prefixed with its run', async ({
    expect,
  }) => {
    const store = `sqlite:${f('recover-all.db')}`
    const side = f('recover-all.side')
    const first = await runAndKill(store, side)
    const second = await runAndKill(store, side)
    const finished = await runToEnd(store, side)
    const r = await runCli(['recover', '--store', store])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    for (const id of [first, second]) {
      expect(r.stdout).toContain(`[${id}] `)
      expect(r.stdout).toContain(`Run ${id} of workflow "durable": SUCCEEDED`)
      expect(count(side, id, 'a')).toBe(1)
      expect(count(side, id, 'c')).toBe(1)
    }
    expect(r.stdout).not.toContain(finished)
    expect(r.stdout).toContain('Recovered 2 runs from')
    const states = json<RunJson[]>(await runCli(['runs', 'list', '--store', store, '--json'])).map((run) => run.state)
    expect(states).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED'])
  })

  it('"runs pause" holds a killed run back from recovery; "runs resume" finishes it', async ({ expect }) => {
    const store = `sqlite:${f('pause.db')}`
    const side = f('pause.side')
    const runId = await runAndKill(store, side)
    const paused = await runCli(['runs', 'pause', runId, '--store', store])
    expect(paused.code, paused.stderr).toBe(0)
    expect(paused.stdout).toContain(`Run ${runId} is PAUSED (it was RUNNING)`)
    expect((await show(store, runId)).run.state).toBe('PAUSED')

    const recover = await runCli(['recover', '--store', store, '--json'])
    expect(recover.code).toBe(0)
    expect(json(recover)).toEqual({ ok: true, runs: [], errors: [], paused: [runId] })

    const resumed = await runCli(['runs', 'resume', runId, '--store', store])
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0)
    expect(resumed.stdout).toContain('run.resumed')
    expect(resumed.stdout).toContain(`Run ${runId} of workflow "durable": SUCCEEDED`)
    expect(count(side, runId, 'a')).toBe(1)
    expect(count(side, runId, 'c')).toBe(1)
    expect((await show(store, runId)).run.state).toBe('SUCCEEDED')

    const finished = await runCli(['runs', 'resume', runId, '--store', store])
    expect(finished.code).toBe(1)
    expect(finished.stderr).toContain(
      `error [RUN_STATE_INVALID]: Run ${runId} is SUCCEEDED: a finished run cannot be resumed. Use "flotilla runs replay ${runId}`,
    )
    const again = await runCli(['runs', 'pause', runId, '--store', store])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('error [RUN_STATE_INVALID]')
  })

  it('"runs resume" also finishes a killed run that was not paused, with --json', async ({ expect }) => {
    const store = `sqlite:${f('resume.db')}`
    const side = f('resume.side')
    const runId = await runAndKill(store, side)
    const r = await runCli(['runs', 'resume', runId, '--store', store, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = json<{ runId: string; state: string; outputs: Record<string, unknown> }>(r)
    expect(out).toMatchObject({ runId, state: 'SUCCEEDED', outputs: { c: { n: 3, up: 1 } } })
    expect(count(side, runId, 'a')).toBe(1)
    expect(steps(side, runId)).toBe(1)
  })

  it('"runs cancel" marks a killed run CANCELLED; it can then only be replayed', async ({ expect }) => {
    const store = `sqlite:${f('cancel.db')}`
    const side = f('cancel.side')
    const runId = await runAndKill(store, side)
    const r = await runCli(['runs', 'cancel', runId, '--store', store, '--reason', 'not needed'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Run ${runId} is CANCELLED (it was RUNNING): not needed.`)
    const shown = await show(store, runId)
    expect(shown.run.state).toBe('CANCELLED')
    expect(shown.run.error?.message).toContain('not needed')
    expect(shown.tasks.map((t) => t.state)).toEqual(['SUCCEEDED', 'CANCELLED', 'CANCELLED'])

    const resume = await runCli(['runs', 'resume', runId, '--store', store])
    expect(resume.code).toBe(1)
    expect(resume.stderr).toMatch(/error \[RUN_STATE_INVALID\]: .*CANCELLED.*flotilla runs replay/)
    const cancelAgain = await runCli(['runs', 'cancel', runId, '--store', store, '--json'])
    expect(cancelAgain.code).toBe(1)
    expect(json(cancelAgain)).toMatchObject({ ok: false, error: { code: 'RUN_STATE_INVALID' } })
    expect((await runCli(['recover', '--store', store])).stdout).toContain('Nothing to recover')

    // Replaying the cancelled run keeps a and runs b (changed so that it does not hang) and c.
    const replay = await runCli(['runs', 'replay', runId, '--store', store, '--set', 'b.input.hang=false', '--json'])
    expect(replay.code, replay.stderr).toBe(0)
    const out = json<{ runId: string; state: string; parentRunId: string; kept: string[]; rerun: string[] }>(replay)
    expect(out).toMatchObject({ state: 'SUCCEEDED', parentRunId: runId, kept: ['a'], rerun: ['b', 'c'] })
    expect(count(side, out.runId, 'a')).toBe(0)
  })

  it('"runs replay --from b --set b.input.x=5" makes a new run from the old one, keeping a', async ({ expect }) => {
    const store = `sqlite:${f('replay.db')}`
    const side = f('replay.side')
    const oldId = await runToEnd(store, side)
    const r = await runCli(['runs', 'replay', oldId, '--store', store, '--from', 'b', '--set', 'b.input.x=5', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = json<{ runId: string; state: string; parentRunId: string; outputs: Record<string, unknown> }>(r)
    expect(out.state).toBe('SUCCEEDED')
    expect(out.parentRunId).toBe(oldId)
    // x changed; b's other input keys (keep, up, side) were kept.
    expect(out.outputs.b).toEqual({ x: 5, keep: 'kept', up: 1 })
    expect(out.outputs.c).toEqual({ n: 3, up: 5 })
    expect(count(side, out.runId, 'a')).toBe(0)
    expect(count(side, out.runId, 'b')).toBe(1)
    expect(count(side, oldId, 'a')).toBe(1)
    const shown = await show(store, out.runId)
    expect(shown.run.parentRunId).toBe(oldId)
    expect(shown.tasks.find((t) => t.id === 'a')?.output).toEqual({ n: 1 })

    const text = await runCli(['runs', 'replay', oldId, '--store', store, '--set', 'c.agent=other'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(`Replaying run ${oldId}: keeping the stored results of a, b; running c.`)
    expect(text.stdout).toContain('task.started c on other@1.0.0')
    expect(text.stdout).toContain(`replay of      ${oldId}`)
  })

  it('rejects a replay naming an unknown task (VALIDATION_FAILED) or a malformed --set (CLI_USAGE)', async ({
    expect,
  }) => {
    const store = `sqlite:${f('replay-bad.db')}`
    const oldId = await runToEnd(store, f('replay-bad.side'))
    for (const args of [
      ['--from', 'zz'],
      ['--set', 'zz.input.x=1'],
    ]) {
      const r = await runCli(['runs', 'replay', oldId, '--store', store, ...args])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr).toMatch(
        /error \[VALIDATION_FAILED\]: Replay of run \S+: --(from|set) names task "zz", which workflow "durable" does not have\. Tasks: a, b, c\./,
      )
    }
    // The other malformed forms are covered by runs-args.test.ts.
    for (const bad of ['b=1', 'b.id=x']) {
      const r = await runCli(['runs', 'replay', oldId, '--store', store, '--set', bad])
      expect(r.code, bad).toBe(2)
      expect(r.stderr).toContain('error [CLI_USAGE]: --set')
    }
    const invalid = await runCli(['runs', 'replay', oldId, '--store', store, '--set', 'b.bogus=1'])
    expect(invalid.code).toBe(1)
    expect(invalid.stderr).toContain('error [WORKFLOW_INVALID]')
    const unknownAgent = await runCli(['runs', 'replay', oldId, '--store', store, '--set', 'b.agent=ghost'])
    expect(unknownAgent.code).toBe(1)
    expect(unknownAgent.stderr).toContain('error [WORKFLOW_UNKNOWN_AGENT]')
    expect(unknownAgent.stderr).toContain('--agents')
    // Nothing was stored by the failed replays.
    expect(json<RunJson[]>(await runCli(['runs', 'list', '--store', store, '--json']))).toHaveLength(1)
  })

  it('"runs prune --older-than" deletes finished runs; a malformed age is CLI_USAGE', async ({ expect }) => {
    const store = `sqlite:${f('prune.db')}`
    const runId = await runToEnd(store, f('prune.side'))
    const keep = await runCli(['runs', 'prune', '--older-than', '30d', '--store', store, '--json'])
    expect(keep.code).toBe(0)
    expect(json(keep)).toMatchObject({ ok: true, deleted: 0, olderThan: '30d', olderThanMs: 30 * 86_400_000 })
    const r = await runCli(['runs', 'prune', '--older-than', '0s', '--store', store])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^Deleted 1 finished run that finished before .* \(older than 0s\)/)
    const gone = await runCli(['runs', 'show', runId, '--store', store])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toContain(`error [RUN_NOT_FOUND]: No run "${runId}"`)
    for (const bad of ['3x', '-1d']) {
      const u = await runCli(['runs', 'prune', `--older-than=${bad}`, '--store', store])
      expect(u.code, bad).toBe(2)
      expect(u.stderr).toContain('error [CLI_USAGE]: --older-than expects an age')
    }
    const missing = await runCli(['runs', 'prune', '--store', store])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('--older-than')
  })

  it('finds the agents of a run whose module moved with --agents, and says what to pass when it is missing', async ({
    expect,
  }) => {
    const store = `sqlite:${f('moved.db')}`
    const side = f('moved.side')
    const runId = await runAndKill(store, side, f('moved/durable.yaml'))
    renameSync(f('moved/agents.mjs'), f('moved/agents-v2.mjs'))
    const missing = await runCli(['recover', '--store', store])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(
      `error [FILE_NOT_FOUND]: Run ${runId} (workflow "durable") was started with the agents module ${f('moved/agents.mjs')}, which no longer exists. Pass --agents <module>`,
    )
    expect((await show(store, runId)).run.state).toBe('RUNNING')

    const r = await runCli(['recover', '--store', store, '--agents', 'agents-v2.mjs'], { cwd: f('moved') })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(count(side, runId, 'a')).toBe(1)
    expect((await show(store, runId)).run.state).toBe('SUCCEEDED')
  })
})

describe.concurrent('bad input', { timeout: 60_000 }, () => {
  it('reports an unknown run id with RUN_NOT_FOUND and exit 1, without a stack', async ({ expect }) => {
    const store = `sqlite:${f('empty.db')}`
    await runToEnd(store, f('empty.side'))
    for (const sub of [['show'], ['pause'], ['resume'], ['cancel'], ['replay']]) {
      const r = await runCli(['runs', ...sub, 'run_nope', '--store', store])
      expect(r.code, sub[0]).toBe(1)
      expect(r.stderr).toContain(
        `error [RUN_NOT_FOUND]: No run "run_nope" in the store ${f('empty.db')}. List the stored runs with "flotilla runs list"`,
      )
      expect(hasStack(r.stderr)).toBe(false)
    }
    const asJson = await runCli(['runs', 'show', 'run_nope', '--store', store, '--json'])
    expect(json(asJson)).toMatchObject({ ok: false, error: { code: 'RUN_NOT_FOUND' } })
  })

  it('reports a malformed store spec with STORE_URL_INVALID and exit 1', async ({ expect }) => {
    for (const args of [
      ['runs', 'list'],
      ['recover'],
      ['run', f('durable.yaml')],
      ['demo'],
      ['runs', 'show', 'run_x'],
    ]) {
      const r = await runCli([...args, '--store', 'bogus://x'])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr).toContain('error [STORE_URL_INVALID]: The store "bogus://x" is not valid')
      expect(hasStack(r.stderr)).toBe(false)
    }
    const first = await runCli(['--store', 'bogus://x', 'runs', 'list'])
    expect(first.code).toBe(1)
    expect(first.stderr).toContain('error [STORE_URL_INVALID]')
  })

  it('reports a file that is not a Flotilla store with STORE_NOT_FLOTILLA', async ({ expect }) => {
    writeFiles(dir, { 'text.db': 'this is not a database, but a text file of more than a few bytes'.repeat(20) })
    const db = new Database(f('other-app.db'))
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)')
    db.close()
    for (const name of ['text.db', 'other-app.db']) {
      const r = await runCli(['runs', 'list', '--store', f(name)])
      expect(r.code, name).toBe(1)
      expect(r.stderr).toContain('error [STORE_NOT_FLOTILLA]')
      expect(r.stderr).toContain('Flotilla leaves this one untouched')
    }
    const run = await runCli([
      'run',
      f('durable.yaml'),
      '--store',
      f('other-app.db'),
      '--input',
      `side=${f('other.side')}`,
    ])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('error [STORE_NOT_FLOTILLA]')
    expect(existsSync(f('other.side'))).toBe(false)
  })

  it('reads a store file that does not exist as an empty store, and does not create it', async ({ expect }) => {
    const none = f('none/never.db')
    const list = await runCli(['runs', 'list', '--store', none])
    expect(list.code).toBe(0)
    expect(list.stdout).toContain('No runs in')
    expect(list.stdout).toContain('(it does not exist yet)')
    const showIt = await runCli(['runs', 'show', 'run_x', '--store', none])
    expect(showIt.code).toBe(1)
    expect(showIt.stderr).toContain('which does not exist yet')
    const recover = await runCli(['recover', '--store', none])
    expect(recover.code).toBe(0)
    expect(recover.stdout).toContain('Nothing to recover')
    expect(existsSync(none)).toBe(false)
  })

  it('rejects bad list options, subcommands and arguments with CLI_USAGE and exit 2', async ({ expect }) => {
    for (const args of [
      ['runs'],
      ['runs', 'bogus'],
      ['runs', '--json'],
      ['runs', 'list', '--state', 'DONE'],
      ['runs', 'list', '--limit', '0'],
      ['runs', 'show'],
      ['runs', 'show', 'a', 'b'],
      ['runs', 'list', '--frobnicate'],
      ['recover', 'extra'],
      ['runs', 'replay', 'run_x', '--concurrency', '0'],
    ]) {
      const r = await runCli([...args, '--store', 'memory'])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toContain('error [CLI_USAGE]')
    }
    for (const args of [
      ['recover', '--no-live'],
      ['runs', 'resume-all', '--no-live'],
    ]) {
      const r = await runCli([...args, '--store', 'memory'])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      expect(r.stdout).toContain('Nothing to recover')
    }
    const noId = await runCli(['runs', 'show', '--store', 'memory'])
    expect(noId.stderr).toContain('"flotilla runs show" <run-id>: missing')
    expect(noId.stderr).not.toContain('--id')
  })
})

describe.concurrent('help', () => {
  const commands = [
    'runs',
    'runs list',
    'runs show',
    'runs pause',
    'runs resume',
    'runs cancel',
    'runs resume-all',
    'runs replay',
    'runs prune',
    'recover',
  ]
  it.for(commands)('prints help for "%s --help" and exits 0', async (command, { expect }) => {
    const words = command.split(' ')
    for (const flag of ['--help', '-h']) {
      const r = await runCli([...words, flag])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`Usage: flotilla ${command}`)
    }
    const topic = await runCli(['help', ...words])
    expect(topic.code).toBe(0)
    expect(topic.stdout).toContain(`Usage: flotilla ${command}`)
  })

  it('lists runs and recover in the global help, and every subcommand in "runs --help"', async ({ expect }) => {
    const global = await runCli(['--help'])
    expect(global.stdout).toMatch(/Commands:[\s\S]*runs[\s\S]*recover/)
    expect(global.stdout).toContain('--store SPEC')
    const runs = await runCli(['runs', '--help'])
    for (const sub of ['list', 'show', 'pause', 'resume', 'cancel', 'resume-all', 'replay', 'prune'])
      expect(runs.stdout).toMatch(new RegExp(`\\n  ${sub} +\\S`))
    const unknown = await runCli(['help', 'runs', 'bogus'])
    expect(unknown.code).toBe(2)
  })
})
