import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentCommand, agentRunCommand } from '../../src/cli/agent-command.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'
import { childEnv, MAIN, ROOT, runCli, tempDir, writeFiles, type CliResult } from './run-cli.js'

const { dir, cleanup } = tempDir('flotilla-agent-cli-')

// Imports defineAgent from its own module of the build (not the package entry), and zod, by file URL.
const AGENT = `import { defineAgent } from '${pathToFileURL(join(ROOT, 'dist/agents/define-agent.js')).href}'
import { z } from '${pathToFileURL(join(ROOT, 'node_modules/zod/index.js')).href}'
export const upper = defineAgent({
  name: 'upper',
  input: z.object({ text: z.string() }),
  handler: async ({ text }, ctx) => {
    ctx.log.info('upper-casing', { length: text.length })
    if (text === 'fail') throw new Error('asked to fail')
    await ctx.workspace.write('last.txt', text)
    return { text: text.toUpperCase() }
  },
})
export const other = 1
`

/** What a command run in this process printed, and its exit code or error code. */
interface Ran {
  code: number | string
  stdout: string
  stderr: string
}

/** Runs `flotilla agent run …args` in this process, with `stdin` as its input; a thrown error gives its code. */
async function run(args: readonly string[], stdin = ''): Promise<Ran> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        append(chunk.toString())
        done()
      },
    })
  const io = { out: sink((t) => (stdout += t)), err: sink((t) => (stderr += t)), in: Readable.from([stdin]) }
  const cwd = process.cwd()
  process.chdir(dir)
  try {
    return { code: await agentRunCommand.execute(args, io), stdout, stderr }
  } catch (e) {
    return { code: isFlotillaError(e) ? e.code : String(e), stdout, stderr }
  } finally {
    process.chdir(cwd)
  }
}

/** Runs the CLI with `lines` on stdin. */
function runWithStdin(args: readonly string[], lines: string): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, env: childEnv() })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(lines)
  })
}

beforeAll(() => {
  ensureFreshBuild(['']) // the built CLI loads every module
  writeFiles(dir, {
    'agents.mjs': AGENT,
    'upper.yaml':
      'name: upper\nmodule: ./agents.mjs\nexport: upper\npermissions:\n  - resource: "file:**"\n    actions: [write]\n',
    'wrong-export.json': JSON.stringify({ name: 'upper', module: './agents.mjs', export: 'missing' }),
    'bad.yaml': 'name: upper\nmodule: ./agents.mjs\nlimits:\n  memoryMb: -5\n',
    'input.json': '{"text":"from file"}',
  })
}, 120_000)
afterAll(() => cleanup())

describe('flotilla agent run (in this process)', () => {
  it('executes one command given with --input and prints its output', async () => {
    const r = await run(['upper.yaml', '--input', '{"text":"hi"}', '--workspace', 'ws'])
    expect(r.stderr).toContain('[info] upper-casing {"length":2}')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ text: 'HI' })
    expect(readFileSync(join(dir, 'ws/last.txt'), 'utf8')).toBe('hi')
  })

  it('reads the input from --input-file, prints JSON with --json, and uses the default workspace', async () => {
    const r = await run([join(dir, 'upper.yaml'), '--input-file', 'input.json', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, agent: 'upper', output: { text: 'FROM FILE' } })
    expect(existsSync(join(dir, '.flotilla/workspaces/upper/last.txt'))).toBe(true)
  })

  it('runs newline-delimited JSON commands from stdin, one output line each, and returns 1 when one failed', async () => {
    const r = await run(
      ['upper.yaml', '--json', '--workspace', 'ws2'],
      '{"text":"a"}\n\n{"text":"fail"}\nnot json\n{"nope":1}\n{"text":"b"}\n',
    )
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; output?: unknown; error?: { code: string } })
    expect(lines.map((l) => (l.ok ? l.output : l.error?.code))).toEqual([
      { text: 'A' },
      'TASK_FAILED',
      'VALIDATION_FAILED',
      'AGENT_INPUT_INVALID',
      { text: 'B' },
    ])
    expect(r.stderr).toContain('error [TASK_FAILED]: asked to fail')
    expect(r.code).toBe(1)
  })

  it('prints plain output lines from stdin without --json and returns 0 when all succeeded', async () => {
    const r = await run(['upper.yaml', '--workspace', 'ws3'], '{"text":"x"}\n{"text":"y"}')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('{"text":"X"}\n{"text":"Y"}\n')
  })

  it.each([
    [['bad.yaml', '--input', '{}'], 'AGENT_SPEC_INVALID'],
    [['wrong-export.json', '--input', '{}'], 'AGENT_DEPLOY_FAILED'],
    [['upper.yaml', '--input', '{"text":"fail"}'], 'TASK_FAILED'],
    [['upper.yaml', '--input', '{"text":3}'], 'AGENT_INPUT_INVALID'],
    [['missing.yaml', '--input', '{}'], 'FILE_NOT_FOUND'],
    [['upper.yaml', '--input-file', 'nope.json'], 'FILE_NOT_FOUND'],
    [['upper.yaml', '--input', 'hi'], 'CLI_USAGE'],
    [['upper.yaml', '--input', '{}', '--input-file', 'input.json'], 'CLI_USAGE'],
    [[], 'CLI_USAGE'],
    [['a.yaml', 'b.yaml'], 'CLI_USAGE'],
  ])('fails %j with %s', async (args, code) => {
    expect((await run(args)).code).toBe(code)
  })

  it('names the missing export and what the module exports', async () => {
    await expect(
      agentRunCommand.execute([join(dir, 'wrong-export.json'), '--input', '{}'], {
        out: process.stdout,
        err: process.stderr,
      }),
    ).rejects.toThrow(/no export "missing".*agents: upper/)
  })

  it('is the subcommand of "flotilla agent"', () => {
    expect(agentCommand.subcommands?.map((c) => c.name)).toEqual([
      'agent run',
      'agent list',
      'agent show',
      'agent reconcile',
      'agent templates',
    ])
    expect(agentCommand.subcommands?.[0]).toBe(agentRunCommand)
    expect(agentCommand.help).toContain('agent run')
  })
})

describe('flotilla agent run (the built CLI)', () => {
  it('prints the output and exits 0', async () => {
    const r = await runCli(['agent', 'run', 'upper.yaml', '--input', '{"text":"hi"}', '--workspace', 'ws4'], {
      cwd: dir,
    })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ text: 'HI' })
  })

  it('reads stdin when there is no --input', async () => {
    const r = await runWithStdin(
      ['agent', 'run', 'upper.yaml', '--json', '--workspace', 'ws5'],
      '{"text":"a"}\n{"text":"fail"}\n',
    )
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { ok: boolean }).ok),
    ).toEqual([true, false])
    expect(r.code).toBe(1)
  })

  it.each([
    [['agent', 'run', 'bad.yaml', '--input', '{}'], 1, 'error [AGENT_SPEC_INVALID]: bad.yaml: field "limits.memoryMb"'],
    [['agent', 'run', 'upper.yaml', '--input', '{"text":"fail"}'], 1, 'error [TASK_FAILED]: asked to fail'],
    [['agent', 'run', 'upper.yaml', '--input', 'hi'], 2, 'error [CLI_USAGE]: --input must be JSON'],
    [['agent'], 2, 'needs a subcommand: run'],
  ])('reports %j as an error (exit %i)', async (args, code, text) => {
    const r = await runCli(args, { cwd: dir })
    expect(r.stderr).toContain(text)
    expect(r.code).toBe(code)
  })
})
