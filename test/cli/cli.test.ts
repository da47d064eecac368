import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { agentImports, ensureBuilt, hasStack, interruptCli, ROOT, runCli, tempDir, writeFiles } from './run-cli.js'

const tmp = tempDir()
const dir = tmp.dir

beforeAll(() => {
  ensureBuilt()
  writeFiles(dir, {
    'agents.mjs': `${agentImports()}
export const echo = defineAgent({ name: 'echo', handler: (input) => input })
export const thrower = defineAgent({ name: 'thrower', handler: () => { throw 'boom' } })
export const hang = defineAgent({ name: 'hang', handler: () => new Promise(() => {}) })
export const stubborn = defineAgent({ name: 'stubborn', handler: () => new Promise(() => { setInterval(() => {}, 1000) }) })
export const liar = defineAgent({ name: 'liar', output: z.object({ count: z.number() }), handler: () => ({ count: 'many' }) })
export const typed = defineAgent({ name: 'typed', input: z.object({ count: z.number(), name: z.string() }), handler: (input) => input })
export const flaky = defineAgent({ name: 'flaky', handler: (_input, ctx) => { if (ctx.attempt < 2) throw new Error('first attempt fails'); return { attempt: ctx.attempt } } })
`,
    'more-agents.mjs': `${agentImports()}
export default [defineAgent({ name: 'a1', handler: () => 1 }), defineAgent({ name: 'a2', handler: () => 2 })]
`,
    'no-agents.mjs': 'export const answer = 42\n',
    'broken.mjs': 'export const = 1\n',
    'ok.yaml':
      'name: ok\nagents: ./agents.mjs\ntasks:\n  - id: first\n    agent: echo\n    input: { n: 1 }\n  - id: second\n    agent: echo\n    input: { $ref: tasks.first.output }\n',
    'inputs.yaml':
      'name: inputs\nagents: ./agents.mjs\ntasks:\n  - id: show\n    agent: echo\n    input: { $ref: input }\n',
    'typed-inputs.yaml':
      'name: typed\nagents: ./agents.mjs\ninputs:\n  zip: { type: string }\n  n: { type: number }\ntasks:\n  - id: show\n    agent: echo\n    input: { $ref: input }\n',
    'many-problems.yaml':
      'name: many\nagents: ./agents.mjs\ntasks:\n  - id: a\n    agent: ecoh\n  - id: b\n    agent: typed\n    input: { count: three, name: { $ref: tasks.a.output } }\n  - id: c\n    agent: echo\n    dependOn: [a]\n  - id: d\n    agent: echo\n    dependsOn: [e]\n  - id: e\n    agent: echo\n    dependsOn: [d]\n  - id: f\n    agent: echo\n    when: "tasks.a.output >"\n',
    'default-export.yaml':
      'name: defaults\nagents: ./more-agents.mjs\ntasks:\n  - id: one\n    agent: a1\n  - id: two\n    agent: a2\n',
    'cycle.yaml':
      'name: cyclic\ntasks:\n  - id: a\n    agent: echo\n    dependsOn: [b]\n  - id: b\n    agent: echo\n    dependsOn: [c]\n  - id: c\n    agent: echo\n    dependsOn: [a]\n',
    'unknown-agent.yaml':
      'name: unknown\nagents: ./agents.mjs\ntasks:\n  - id: a\n    agent: echo\n  - id: b\n    agent: ghost\n',
    'no-module.yaml': 'name: nomodule\ntasks:\n  - id: a\n    agent: echo\n',
    'malformed.yaml': 'name: bad\ntasks:\n  - id: a\n   agent: echo\n',
    'throws.yaml':
      'name: throws\nagents: ./agents.mjs\ntasks:\n  - id: fine\n    agent: echo\n  - id: boom\n    agent: thrower\n',
    'hangs.yaml': 'name: hangs\nagents: ./agents.mjs\ntasks:\n  - id: slow\n    agent: hang\n    timeoutMs: 50\n',
    'stubborn.yaml':
      'name: stubborn\nagents: ./agents.mjs\ntasks:\n  - id: slow\n    agent: stubborn\n    timeoutMs: 50\n',
    'lies.yaml': 'name: lies\nagents: ./agents.mjs\ntasks:\n  - id: count\n    agent: liar\n',
    'retries.yaml':
      'name: retries\nagents: ./agents.mjs\ntasks:\n  - id: flaky\n    agent: flaky\n    retry: { maxAttempts: 3, initialDelayMs: 20 }\n',
    'missing-module.yaml': 'name: m\nagents: ./nowhere.mjs\ntasks:\n  - id: a\n    agent: echo\n',
    'empty-module.yaml': 'name: m\nagents: ./no-agents.mjs\ntasks:\n  - id: a\n    agent: echo\n',
    'broken-module.yaml': 'name: m\nagents: ./broken.mjs\ntasks:\n  - id: a\n    agent: echo\n',
  })
})

afterAll(() => tmp.cleanup())

const f = (name: string): string => join(dir, name)

describe.concurrent('help and usage', () => {
  it.for(['run', 'validate', 'demo'])('prints help for "%s --help" and exits 0', async (command, { expect }) => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([command, flag])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`Usage: flotilla ${command}`)
    }
  })

  it('prints the global help with --help and "help <command>"', async ({ expect }) => {
    const global = await runCli(['--help'])
    expect(global.code).toBe(0)
    expect(global.stdout).toMatch(/Commands:[\s\S]*run[\s\S]*validate[\s\S]*demo/)
    const topic = await runCli(['help', 'validate'])
    expect(topic.code).toBe(0)
    expect(topic.stdout).toContain('Usage: flotilla validate')
  })

  it('prints the package version with --version', async ({ expect }) => {
    const r = await runCli(['--version'])
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
  })

  it('rejects an unknown flag with CLI_USAGE and exit code 2', async ({ expect }) => {
    const r = await runCli(['run', f('ok.yaml'), '--frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('error [CLI_USAGE]: Unknown flag "--frobnicate"')
    expect(r.stderr).toContain('flotilla run --help')
  })

  it('rejects an unknown command, a missing file argument and a bad --concurrency with exit code 2', async ({
    expect,
  }) => {
    for (const args of [
      ['frobnicate'],
      [],
      ['run'],
      ['validate', 'a.yaml', 'b.yaml'],
      ['run', f('ok.yaml'), '--concurrency', 'zero'],
      ['--bogus'],
    ]) {
      const r = await runCli(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toContain('error [CLI_USAGE]')
    }
  })

  it('rejects a malformed --input with CLI_USAGE and exit code 2', async ({ expect }) => {
    for (const bad of ['novalue', '=1', 'a..b=1', '__proto__.x=1']) {
      const r = await runCli(['run', f('ok.yaml'), '--input', bad])
      expect(r.code, bad).toBe(2)
      expect(r.stderr).toContain('error [CLI_USAGE]')
      expect(r.stderr).toContain('--input')
    }
  })
})

describe.concurrent('validate', () => {
  it('accepts a valid workflow and checks its agents', async ({ expect }) => {
    const r = await runCli(['validate', f('ok.yaml')])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('✓')
    expect(r.stdout).toContain('workflow "ok", 2 tasks')
    expect(r.stdout).toContain('echo@1.0.0')
  })

  it('prints JSON with --json', async ({ expect }) => {
    const r = await runCli(['validate', f('default-export.yaml'), '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { ok: boolean; tasks: number; agents: string[] }
    expect(out).toMatchObject({ ok: true, tasks: 2 })
    expect(out.agents.sort()).toEqual(['a1@1.0.0', 'a2@1.0.0'])
  })

  it('rejects a cyclic workflow naming the cycle path', async ({ expect }) => {
    const r = await runCli(['validate', f('cycle.yaml')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error [WORKFLOW_CYCLE]')
    expect(r.stderr).toContain('a → b → c → a')
    expect(hasStack(r.stderr)).toBe(false)
  })

  it('rejects a task naming an unregistered agent with WORKFLOW_UNKNOWN_AGENT', async ({ expect }) => {
    const r = await runCli(['validate', f('unknown-agent.yaml')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error [WORKFLOW_UNKNOWN_AGENT]')
    expect(r.stderr).toContain('ghost')
  })

  it('reports every problem at once: schema with "did you mean", agents, literal inputs, cycles, conditions', async ({
    expect,
  }) => {
    const r = await runCli(['validate', f('many-problems.yaml')])
    expect(r.code).toBe(1)
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error ['))
    expect(errors.map((l) => /^error \[(\w+)\]/.exec(l)![1]).sort()).toEqual([
      'AGENT_INPUT_INVALID',
      'WORKFLOW_BAD_REFERENCE',
      'WORKFLOW_CYCLE',
      'WORKFLOW_INVALID',
      'WORKFLOW_UNKNOWN_AGENT',
    ])
    expect(r.stderr).toContain('did you mean "dependsOn"?')
    expect(r.stderr).toContain('Did you mean "echo"?')
    expect(r.stderr).toMatch(/AGENT_INPUT_INVALID\]: .*agent "typed" .*at "count"/)
    expect(r.stderr).not.toMatch(/at "name"/)
    expect(r.stderr).toContain('d → e → d')
    expect(r.stderr).toContain('5 problems')
    const json = await runCli(['validate', f('many-problems.yaml'), '--json'])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout) as { ok: boolean; problems: unknown[] }).toMatchObject({
      ok: false,
      problems: expect.any(Array),
    })
    expect((JSON.parse(json.stdout) as { problems: unknown[] }).problems).toHaveLength(5)
  })

  it('rejects malformed YAML with WORKFLOW_INVALID and the line number', async ({ expect }) => {
    const r = await runCli(['validate', f('malformed.yaml')])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error \[WORKFLOW_INVALID\]: .*line 4/)
  })

  it('reports a missing file with FILE_NOT_FOUND, and its stack only with --verbose', async ({ expect }) => {
    const plain = await runCli(['validate', f('nope.yaml')])
    expect(plain.code).toBe(1)
    expect(plain.stderr).toContain('error [FILE_NOT_FOUND]')
    expect(hasStack(plain.stderr)).toBe(false)
    const verbose = await runCli(['validate', f('nope.yaml'), '--verbose'])
    expect(verbose.code).toBe(1)
    expect(verbose.stderr).toContain('error [FILE_NOT_FOUND]')
    expect(hasStack(verbose.stderr)).toBe(true)
  })

  it('reports agents modules that are missing, broken or empty', async ({ expect }) => {
    const missing = await runCli(['validate', f('missing-module.yaml')])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('error [FILE_NOT_FOUND]')
    expect(missing.stderr).toContain('nowhere.mjs')
    const broken = await runCli(['validate', f('broken-module.yaml')])
    expect(broken.code).toBe(1)
    expect(broken.stderr).toContain('error [MODULE_LOAD_FAILED]')
    expect(broken.stderr).toContain(f('broken.mjs'))
    const empty = await runCli(['validate', f('empty-module.yaml')])
    expect(empty.code).toBe(1)
    expect(empty.stderr).toContain('error [MODULE_LOAD_FAILED]')
    expect(empty.stderr).toContain(f('no-agents.mjs'))
  })
})

describe.concurrent('run', () => {
  it('runs a workflow with plain event lines and a summary, exit 0', async ({ expect }) => {
    const r = await runCli(['run', f('ok.yaml')])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/\d\d:\d\d:\d\d task\.succeeded first \(\d+ ms\)/)
    expect(r.stdout).toContain('SUCCEEDED')
    expect(r.stdout).toContain('success rate 100% of 2 finished tasks')
    expect(r.stdout).toContain('critical path  first → second')
    expect(r.stdout).toContain('echo@1.0.0')
    expect(r.stdout).toContain('  output\n    second: {"n":1}\n')
  })

  it('prints only the result JSON with --json', async ({ expect }) => {
    const r = await runCli(['run', f('ok.yaml'), '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as {
      state: string
      outputs: Record<string, unknown>
      summary: { successRate: number }
      tasks: Record<string, { state: string }>
    }
    expect(out.state).toBe('SUCCEEDED')
    expect(out.outputs.second).toEqual({ n: 1 })
    expect(out.summary.successRate).toBe(1)
    expect(out.tasks.first.state).toBe('SUCCEEDED')
  })

  it('parses --input values as JSON when they are JSON, and dotted keys as objects', async ({ expect }) => {
    const r = await runCli([
      'run',
      f('inputs.yaml'),
      '--json',
      '-i',
      'n=5',
      '-i',
      'flag=true',
      '-i',
      'name=hello world',
      '-i',
      'limits.max=3',
      '-i',
      'limits.min=1',
      '-i',
      'obj={"x":[1,2]}',
      '-i',
      'quoted="7"',
    ])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { outputs: Record<string, unknown> }
    expect(out.outputs.show).toEqual({
      n: 5,
      flag: true,
      name: 'hello world',
      limits: { max: 3, min: 1 },
      obj: { x: [1, 2] },
      quoted: '7',
    })
  })

  it("types --input values by the workflow's declared inputs: a string input stays a string", async ({ expect }) => {
    const r = await runCli(['run', f('typed-inputs.yaml'), '--json', '-i', 'zip=01234', '-i', 'n=5'])
    expect(r.code, r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as { outputs: Record<string, unknown> }).outputs.show).toEqual({ zip: '01234', n: 5 })
    const digits = await runCli(['run', f('typed-inputs.yaml'), '--json', '-i', 'zip=12345'])
    expect((JSON.parse(digits.stdout) as { outputs: Record<string, unknown> }).outputs.show).toEqual({ zip: '12345' })
  })

  it('registers a default export that is a list of agents', async ({ expect }) => {
    const r = await runCli(['run', f('default-export.yaml'), '--json'])
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as { outputs: unknown }).outputs).toEqual({ one: 1, two: 2 })
  })

  it('lists a handler that throws a non-Error as TASK_FAILED, without a stack, exit 1', async ({ expect }) => {
    const r = await runCli(['run', f('throws.yaml')])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('FAILED')
    expect(r.stdout).toMatch(/✗ boom .*\[TASK_FAILED\] A non-Error value was thrown: boom/)
    expect(hasStack(r.stdout + r.stderr)).toBe(false)
  })

  it('shows a stack with --verbose when a run fails', async ({ expect }) => {
    const r = await runCli(['run', f('throws.yaml'), '--verbose'])
    expect(r.code).toBe(1)
    expect(hasStack(r.stderr)).toBe(true)
  })

  it('fails a handler that never settles with TASK_TIMEOUT', async ({ expect }) => {
    const r = await runCli(['run', f('hangs.yaml')])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/✗ slow .*\[TASK_TIMEOUT\]/)
  })

  it('exits even when a timed-out handler keeps the event loop busy', async ({ expect }) => {
    const started = Date.now()
    const r = await runCli(['run', f('stubborn.yaml'), '--json'], { timeoutMs: 10_000 })
    expect(r.code).toBe(1)
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('TASK_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(8_000)
  })

  it('fails output that breaks its schema with AGENT_OUTPUT_INVALID', async ({ expect }) => {
    const r = await runCli(['run', f('lies.yaml')])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/✗ count .*\[AGENT_OUTPUT_INVALID\].*"count"/)
  })

  it('shows retries and succeeds when a later attempt succeeds', async ({ expect }) => {
    const r = await runCli(['run', f('retries.yaml')])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/task\.retrying flaky after attempt 1 failed \[TASK_FAILED\] first attempt fails/)
    expect(r.stdout).toMatch(/task\.started flaky on flaky@1\.0\.0 \(attempt 2\)/)
  })

  it('says how to name an agents module when a workflow has none', async ({ expect }) => {
    const r = await runCli(['run', f('no-module.yaml')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error [WORKFLOW_UNKNOWN_AGENT]')
    expect(r.stderr).toContain('agents: ./agents.mjs')
  })

  it('reports a wrong input type with VALIDATION_FAILED', async ({ expect }) => {
    const r = await runCli(['run', join(ROOT, 'examples/scan-and-fix/workflow.yaml'), '--input', 'apply=yes'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error \[VALIDATION_FAILED\]: .*"apply" must be a boolean/)
  })

  it('cancels the run on Ctrl-C (SIGINT), aborting running handlers, and exits 1', async ({ expect }) => {
    const r = await interruptCli(['demo', '--input', 'delayMs=2000'], 'task.started scan-3')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('Interrupted: cancelling the run')
    expect(r.stdout).toContain('task.cancelled scan-0: interrupted (Ctrl-C)')
    expect(r.stdout).toMatch(/of workflow "scan-and-fix": CANCELLED in \d+ ms/)
    expect(r.stdout).toMatch(/success rate \d+(\.\d)?% of \d+ finished tasks/)
    expect(r.stdout).not.toContain('success rate 100%')
  })

  it('prints an error as JSON on stdout with --json', async ({ expect }) => {
    const r = await runCli(['run', f('nope.yaml'), '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'FILE_NOT_FOUND' } })
  })
})
