import { z } from 'zod'
import { childTasks } from '../orchestrator/client.js'
import { planReplay, type ReplayOptions } from '../orchestrator/replay.js'
import { expectPositionals, parseInputs, splitArgs, validateOptions, type DeclaredInput } from './args.js'
import { AGENT_SOURCE_FLAGS, RUN_FLAGS, type Command } from './command.js'
import { watchRun } from './execute-run.js'
import { paint } from './format.js'
import { mergeInput, parseSets } from './replay-args.js'
import { findRun, withRunStore } from './runs-shared.js'
import { AGENT_SOURCE_HELP, AGENT_SOURCE_NOTE, StoredRunAgents } from './stored-agents.js'
import { STORE_HELP } from './store-option.js'
import { formatStoredNote } from './summary.js'

const REPLAY_FLAGS = {
  ...RUN_FLAGS,
  ...AGENT_SOURCE_FLAGS,
  from: { type: 'string', multiple: true },
  set: { type: 'string', multiple: true },
  children: { type: 'string' },
} as const

const replaySchema = z.object({
  id: z
    .string({
      error:
        'missing; name the run to replay, as in "flotilla runs replay run_…" (ids are listed by "flotilla runs list")',
    })
    .min(1),
  concurrency: z
    .string()
    .regex(/^[1-9]\d*$/, 'must be a whole number ≥ 1')
    .transform(Number)
    .optional(),
  children: z
    .enum(['keep', 'rerun'], {
      error:
        'must be "keep" (the stored outputs of tasks that ran child runs are kept) or "rerun" (those tasks plan and run new child runs)',
    })
    .optional(),
})

const HELP = `Usage: flotilla runs replay <run-id> [options]

Starts a new run from a stored one (finished or not) and runs it to the end
in this process. The new run keeps the stored results of the tasks that
succeeded, except the tasks named by --from, changed by --set, or reading a
changed --input, and everything downstream of those: these run again. With
no option, a failed or cancelled run re-runs only what did not succeed.
The new run records the run it came from (parentRunId).

Options:
      --from TASK         Run this task (and its downstream) again; repeat for
                          several
      --set TASK.FIELD=VALUE
                          Change a field of a task's spec for the new run;
                          repeat for several. The value is JSON when valid
                          JSON, else text. A dotted path merges into objects:
                          --set fix.input.apply=true keeps fix's other inputs;
                          --set fix.agent=other, --set fix.timeoutMs=5000
      --children keep|rerun
                          What becomes of the tasks that ran child runs (a
                          plan, agents spawned from templates): keep their
                          stored outputs (default), or run them again, each
                          planning and running a new child run under the new
                          run
  -i, --input key=value   Change a key of the run input (the other keys keep
                          their stored values); repeat for several
      --concurrency N     Most tasks running at once
${AGENT_SOURCE_HELP}
      --json              Print only the new run's result as JSON at the end,
                          with parentRunId, kept and rerun (task ids)
${STORE_HELP}
      --no-live           Plain event lines even on a terminal
      --verbose           Show progress and log events, and error stacks
  -h, --help              Show this help

${AGENT_SOURCE_NOTE}

A task named by --from or --set that the workflow does not have is
VALIDATION_FAILED; a change that makes the workflow invalid is reported
with its code (e.g. WORKFLOW_INVALID).

Exit code: 0 when the new run SUCCEEDED, 1 when it failed, was cancelled
or could not start, 2 for a usage error.

Examples:
  flotilla runs replay run_… --from fix --set fix.input.apply=true
  flotilla runs replay run_… --set scan.agent=scanner-v2 --input target=src
  flotilla runs replay run_… --children rerun`

/** `flotilla runs replay <id>`: a new run from a stored one, with changes. */
export const runsReplayCommand: Command = {
  name: 'runs replay',
  summary: 'Start a new run from a stored one, with changes (--from, --set)',
  help: HELP,
  flags: REPLAY_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs replay', argv, REPLAY_FLAGS)
    const [id] = expectPositionals('runs replay', positionals, ['run-id'])
    const options = validateOptions('runs replay', replaySchema, {
      id,
      concurrency: values.concurrency,
      children: values.children,
    })
    const inputPairs = (values.input as string[] | undefined) ?? []
    parseInputs('runs replay', inputPairs)
    const display = {
      json: values.json === true,
      live: values['no-live'] !== true,
      verbose: values.verbose === true,
      concurrency: options.concurrency,
    }
    const flag = values.store as string | undefined
    return withRunStore(flag, async (orchestrator, store) => {
      const record = await findRun(orchestrator, options.id, store)
      const changes = parseInputs('runs replay', inputPairs, declaredInputs(record.definition))
      const replay: ReplayOptions = {
        from: (values.from as string[] | undefined) ?? [],
        set: parseSets('runs replay', record, (values.set as string[] | undefined) ?? []),
        ...(inputPairs.length > 0 ? { input: mergeInput(record.input, changes) } : {}),
        ...(options.children === undefined ? {} : { children: options.children }),
      }
      // The tasks that ran child runs, run again with --children rerun (as orchestrator.replay does).
      const rerunChildren = await childTasks(orchestrator.store, record.id, options.children)
      // Plans once here to check task names and changes before loading any agent, and to show the kept results.
      const plan = planReplay(record, await orchestrator.getTasks(record.id), {
        ...replay,
        from: [...new Set([...(replay.from ?? []), ...rerunChildren])],
      })
      const agents = {
        agents: (values.agents as string[] | undefined) ?? [],
        workflowDir: values['workflow-dir'] as string | undefined,
      }
      await new StoredRunAgents(orchestrator, agents).prepare(record, plan.workflow)
      const kept = plan.preset.map((t) => t.taskId as string)
      if (!display.json) {
        io.out.write(
          `Replaying run ${record.id}: ${kept.length > 0 ? `keeping the stored results of ${kept.join(', ')}` : 'keeping no stored result'}; ${plan.rerun.length > 0 ? `running ${plan.rerun.join(', ')}` : 'nothing to run again'}.\n`,
        )
      }
      const result = await watchRun(
        {
          workflow: plan.workflow,
          initial: plan.preset,
          extraJson: { parentRunId: record.id, kept, rerun: plan.rerun },
          begin: (onEvent) => orchestrator.replay(record.id, replay, { onEvent, concurrency: options.concurrency }),
        },
        display,
        io,
      )
      if (!display.json) {
        const p = paint(io.out.isTTY === true)
        io.out.write(`  replay of      ${record.id}\n`)
        io.out.write(formatStoredNote(result, { label: store.label, durable: orchestrator.store.durable, flag }, p))
      }
      return result.ok ? 0 : 1
    })
  },
}

/** The inputs a stored definition declares (none when it declares none or is not an object). */
function declaredInputs(definition: unknown): Record<string, DeclaredInput> {
  const inputs =
    definition !== null && typeof definition === 'object' ? (definition as { inputs?: unknown }).inputs : undefined
  return inputs !== null && typeof inputs === 'object' ? (inputs as Record<string, DeclaredInput>) : {}
}
