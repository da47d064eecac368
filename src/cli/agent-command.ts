import { readFile } from 'node:fs/promises'
import { agentTemplatesCommand } from './agent-templates.js'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { z } from 'zod'
import { FlotillaError, isFlotillaError, serializeError, toFlotillaError } from '../core/errors.js'
import { newAgentId } from '../core/ids.js'
import { loadAgentSpec } from '../agents/spec.js'
import { parseTreeBudget, serveBudgetCall, TreeBudgets } from '../runtimes/tree-budget.js'
import { InProcessRuntime } from '../runtimes/inprocess/inprocess-runtime.js'
import type { RuntimeEvent, RuntimeExit, RuntimeHandle } from '../runtimes/runtime.js'
import { expectPositionals, splitArgs, usageError, validateOptions } from './args.js'
import { COMMON_FLAGS, type Command } from './command.js'
import type { CliIO } from './execute-run.js'
import { runAgentHttp } from './agent-http.js'
import { agentListCommand, agentReconcileCommand, agentShowCommand } from './agent-records.js'

const RUN_FLAGS = {
  ...COMMON_FLAGS,
  input: { type: 'string', short: 'i' },
  'input-file': { type: 'string' },
  workspace: { type: 'string' },
  json: { type: 'boolean' },
  http: { type: 'string' },
  host: { type: 'string' },
} as const

/** The options of `flotilla agent run`, after validation. */
export const agentRunOptionsSchema = z
  .object({
    file: z.string({ error: 'missing; name the agent spec, as in "flotilla agent run agent.yaml"' }).min(1),
    input: z.string().optional(),
    inputFile: z.string().min(1).optional(),
    workspace: z.string().min(1).optional(),
    json: z.boolean(),
    verbose: z.boolean(),
  })
  .refine((o) => o.input === undefined || o.inputFile === undefined, {
    message: 'give --input or --input-file, not both',
    path: ['input'],
  })

const RUN_HELP = `Usage: flotilla agent run <spec.json|spec.yaml> [options]

Starts the agent of a spec file in this process (the agent runner of the
inprocess runtime: its module and export, tools, permissions, storage and
CPU-time limits; memoryMb is not enforced in-process), executes commands,
prints their outputs, and stops it.

With --input or --input-file, executes that one command and prints its
output. Without them, reads newline-delimited JSON commands from stdin (one
input per line; blank lines are skipped) and prints one line per command,
in order, until end of input. Log lines and denied permissions go to
stderr. ctx services that need an orchestrator (messages, artifacts, cache,
children) fail with AGENT_STATE_INVALID.

Options:
  -i, --input JSON        The input of one command, as JSON: '{"text":"hi"}'
      --input-file FILE   Read the input of one command from a JSON file
      --workspace DIR     The agent's workspace folder
                          (default: .flotilla/workspaces/<agent name>)
      --json              Print {"ok":true,"output":…} or {"ok":false,"error":…}
                          per command (on stdout, one line each from stdin)
      --http PORT         Serve the runtime protocol over HTTP instead (what a
                          pod of the kubernetes runtime runs; no spec: the
                          orchestrator sends the agent; token in
                          FLOTILLA_AGENT_TOKEN)
      --host ADDR         Address for --http (default 0.0.0.0)
      --verbose           Show error stacks
  -h, --help              Show this help

Exit code: 0 when every command succeeded, 1 when one failed (the others
still run; a limit exceeded stops the agent and the rest fail), 2 for a
usage error.

Examples:
  flotilla agent run agents/upper.yaml --input '{"text":"hi"}'
  printf '{"text":"a"}\\n{"text":"b"}\\n' | flotilla agent run agents/upper.yaml --json`

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (e) {
    throw new FlotillaError('VALIDATION_FAILED', `${what} is not valid JSON: ${(e as Error).message}.`, {
      details: { what },
    })
  }
}

/** What a command of `agent run` printed: one result per line of stdout. */
function printResult(
  io: CliIO,
  json: boolean,
  outcome: { ok: true; output: unknown } | { ok: false; error: FlotillaError },
  pretty: boolean,
): void {
  if (outcome.ok) {
    const text = json
      ? JSON.stringify({ ok: true, output: outcome.output ?? null })
      : JSON.stringify(outcome.output ?? null, null, pretty ? 2 : undefined)
    io.out.write(`${text}\n`)
  } else {
    if (json) io.out.write(`${JSON.stringify({ ok: false, error: serializeError(outcome.error) })}\n`)
    io.err.write(`error [${outcome.error.code}]: ${outcome.error.message}\n`)
  }
}

function showEvent(io: CliIO, event: RuntimeEvent): void {
  if (event.type === 'log') {
    const d = event.data
    const extra = d.data === undefined ? '' : ` ${JSON.stringify(d.data)}`
    io.err.write(`[${String(d.level)}] ${String(d.message)}${extra}\n`)
  } else if (event.type === 'permission.denied') {
    io.err.write(`[denied] ${String(event.data.action)} ${String(event.data.resource)}: ${String(event.data.reason)}\n`)
  }
}

async function runLines(
  handle: RuntimeHandle,
  io: CliIO,
  json: boolean,
  input: NodeJS.ReadableStream,
  exited: () => RuntimeExit | undefined,
): Promise<number> {
  let failed = false
  let line = 0
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++
    if (text.trim() === '') continue
    try {
      const output = await handle.execute(parseJson(text, `stdin line ${line}`))
      printResult(io, json, { ok: true, output }, false)
    } catch (e) {
      failed = true
      printResult(io, json, { ok: false, error: toFlotillaError(e, 'TASK_FAILED') }, false)
      if (exited() !== undefined) break
    }
  }
  return failed ? 1 : 0
}

/** `flotilla agent run <spec>`: runs an agent of a spec file in this process. */
export const agentRunCommand: Command = {
  name: 'agent run',
  summary: 'Run the agent of a spec file here: one --input, or JSON lines from stdin',
  help: RUN_HELP,
  flags: RUN_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('agent run', argv, RUN_FLAGS)
    if (values.http !== undefined) return runAgentHttp(values, positionals, io)
    const [file] = expectPositionals('agent run', positionals, ['spec.yaml'])
    const options = validateOptions('agent run', agentRunOptionsSchema, {
      file,
      input: values.input,
      inputFile: values['input-file'],
      workspace: values.workspace,
      json: values.json === true,
      verbose: values.verbose === true,
    })
    let single: { value: unknown } | undefined
    if (options.input !== undefined) {
      try {
        single = { value: JSON.parse(options.input) as unknown }
      } catch {
        throw usageError(
          'agent run',
          `--input must be JSON, like '{"text":"hi"}' (a string needs quotes: '"hi"'); got ${options.input}.`,
        )
      }
    } else if (options.inputFile !== undefined) {
      let text: string
      try {
        text = await readFile(options.inputFile, 'utf8')
      } catch (e) {
        throw new FlotillaError(
          'FILE_NOT_FOUND',
          `Input file "${options.inputFile}" cannot be read: ${(e as Error).message}`,
          { details: { path: options.inputFile } },
        )
      }
      single = { value: parseJson(text, `Input file "${options.inputFile}"`) }
    }
    const spec = await loadAgentSpec(options.file)
    const runtime = new InProcessRuntime()
    let exit: RuntimeExit | undefined
    const instanceId = newAgentId()
    // The spec's tree budget holds for the agent alone (it has no children here).
    const budgets = new TreeBudgets((c) =>
      showEvent(io, {
        type: 'budget.warning',
        data: { agent: c.name, scope: 'tree', measure: c.measure, spent: c.spent, limit: c.limit },
      }),
    )
    budgets.open(instanceId, spec.name, undefined, parseTreeBudget(spec.budget, spec.name))
    const handle = await runtime.deploy(
      {
        instanceId,
        name: spec.name,
        module: spec.module,
        ...(spec.model === undefined ? {} : { model: spec.model }),
        exportName: spec.export,
        tools: spec.tools,
        toolsModule: spec.toolsModule,
        permissions: spec.permissions ?? [],
        limits: spec.limits,
        env: spec.env,
        workspace: resolve(options.workspace ?? join('.flotilla', 'workspaces', spec.name)),
      },
      {
        onExit: (e) => (exit = e),
        onEvent: (e) => showEvent(io, e),
        call: standaloneServices((op, a) => serveBudgetCall(budgets, instanceId, spec.name, op, a)),
      },
    )
    try {
      if (single === undefined)
        return await runLines(
          handle,
          io,
          options.json,
          (io as CliIO & { in?: NodeJS.ReadableStream }).in ?? process.stdin,
          () => exit,
        )
      const output = await handle.execute(single.value)
      if (options.json)
        io.out.write(`${JSON.stringify({ ok: true, agent: spec.name, output: output ?? null }, null, 2)}\n`)
      else printResult(io, false, { ok: true, output }, true)
      return 0
    } catch (e) {
      throw isFlotillaError(e) ? e : toFlotillaError(e, 'TASK_FAILED')
    } finally {
      await runtime.close()
    }
  },
}

function agentHelp(): string {
  return `Usage: flotilla agent <subcommand> [options]

Runs agents described by agent spec files (JSON or YAML: name, module,
export, tools, permissions, limits, env; see docs/agents-as-processes.md),
and shows the deployed agents recorded in the store.

Subcommands:
  run    ${agentRunCommand.summary}
  list   ${agentListCommand.summary}
  show   ${agentShowCommand.summary}
  reconcile  ${agentReconcileCommand.summary}
  templates  ${agentTemplatesCommand.summary}

Examples:
  flotilla agent run agents/upper.yaml --input '{"text":"hi"}'
  flotilla agent list --state FAILED
  flotilla agent templates --agents ./agents.mjs`
}

/** `flotilla agent <subcommand>`: commands on agent specs. */
export const agentCommand: Command = {
  name: 'agent',
  summary: 'Run an agent from its spec file (agent run); list and show deployed agents; list agent templates',
  help: agentHelp(),
  flags: COMMON_FLAGS,
  subcommands: [agentRunCommand, agentListCommand, agentShowCommand, agentReconcileCommand, agentTemplatesCommand],
  execute() {
    return Promise.reject(
      usageError('agent', '"flotilla agent" needs a subcommand: run, list, show, reconcile or templates.'),
    )
  },
}

/**
 * The services of an agent run alone by `flotilla agent run`: durable steps
 * (`ctx.step`, the model calls of a language-model agent) are kept for this
 * command only; everything else needs an orchestrator.
 */
function standaloneServices(
  budget: (op: 'budget.hold' | 'budget.settle', args: Record<string, unknown>) => unknown,
): (op: string, args: unknown) => Promise<unknown> {
  const journal = new Map<string, unknown>()
  return (op, args) => {
    if (op === 'budget.hold' || op === 'budget.settle') {
      try {
        return Promise.resolve(budget(op, (args ?? {}) as Record<string, unknown>))
      } catch (e) {
        return Promise.reject(e as Error)
      }
    }
    const a = args as { key: string; value?: unknown }
    if (op === 'journal.get')
      return Promise.resolve(journal.has(a.key) ? { found: true, value: journal.get(a.key) } : { found: false })
    if (op === 'journal.put') return Promise.resolve((journal.set(a.key, a.value), null))
    return Promise.reject(
      new FlotillaError(
        'AGENT_STATE_INVALID',
        `ctx service "${op}" needs an orchestrator; "flotilla agent run" runs the agent alone. Deploy it with an Orchestrator to use messages, artifacts, the cache and children.`,
        { details: { op } },
      ),
    )
  }
}
