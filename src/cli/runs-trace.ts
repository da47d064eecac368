import type { RunEvent, ModelCalledEvent, TaskLogEvent } from '../core/events.js'
import { spendOf } from '../core/model-spend.js'
import { expectPositionals, splitArgs, usageError } from './args.js'
import { STORE_FLAGS, type Command } from './command.js'
import { formatDuration, paint, type Paint } from './format.js'
import { findRun, withStore } from './runs-shared.js'
import { STORE_HELP } from './store-option.js'
import { formatSpend } from './summary.js'

const TRACE_HELP = `Usage: flotilla runs trace <run-id> [task-id] [options]

Shows the model calls of a run's language-model agents, task by task and in
order: for each call the model, tokens, cost and time (or that it was
replayed from the task's journal), the model's reasoning, text and tool
calls, and the result of each tool call; then the totals per agent. With a
task id, only that task.

Options:
      --json              Print the model calls and tool results as JSON
${STORE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help

Examples:
  flotilla runs trace run_…
  flotilla runs trace run_… review --json`

type TraceEvent = ModelCalledEvent | TaskLogEvent

function isTrace(e: RunEvent): e is TraceEvent {
  return e.type === 'model.called' || (e.type === 'task.log' && e.message === 'tool result')
}

function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((l) => `${by}${l}`)
    .join('\n')
}

function formatCall(e: ModelCalledEvent, p: Paint): string[] {
  const u = e.usage
  const head = e.replayed
    ? `call ${e.call + 1}  ${e.model}  ${p.dim('replayed from the journal (not paid again)')}`
    : `call ${e.call + 1}  ${e.model}  ${u.inputTokens} in / ${u.outputTokens} out tokens${u.reasoningTokens > 0 ? ` (${u.reasoningTokens} reasoning)` : ''}  $${e.costUsd.toFixed(4)}  ${formatDuration(e.durationMs)}  attempt ${e.attempt}`
  const lines = [`  ${p.bold(head)}`]
  for (const part of e.answer ?? []) {
    if (part.type === 'reasoning') lines.push(p.dim(indent(`thinking: ${part.text}`, '    ')))
    else if (part.type === 'text') lines.push(indent(part.text, '    '))
    else lines.push(`    ${p.cyan('→')} ${part.tool}(${part.input})  ${p.dim(part.callId)}`)
  }
  if (e.finishReason !== 'stop' && e.finishReason !== 'tool-calls')
    lines.push(`    ${p.yellow(`stopped: ${e.finishReason}`)}`)
  return lines
}

function formatToolResult(e: TaskLogEvent, p: Paint): string {
  const d = (e.data ?? {}) as { tool?: string; callId?: string; ok?: boolean; result?: string; error?: string }
  return d.ok === false
    ? `    ${p.red('←')} ${d.tool}: ${p.red(d.error ?? 'failed')}`
    : `    ${p.green('←')} ${d.tool}: ${d.result ?? ''}`
}

/** `flotilla runs trace <id> [task]`: the model calls of a run, readably. */
export const runsTraceCommand: Command = {
  name: 'runs trace',
  summary: 'Show the model calls of a run: reasoning, text, tool calls, tokens, cost',
  help: TRACE_HELP,
  flags: STORE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs trace', argv, STORE_FLAGS)
    const [id, task] = expectPositionals('runs trace', positionals, ['run-id', 'task-id'])
    if (id === undefined)
      throw usageError(
        'runs trace',
        '"flotilla runs trace" needs the id of a run: flotilla runs trace <run-id> [task-id].',
      )
    return withStore(values.store as string | undefined, async (orchestrator, store) => {
      const record = await findRun(orchestrator, id, store)
      const events = (await orchestrator.listEvents(record.id))
        .map((e) => e.event)
        .filter(isTrace)
        .filter((e) => task === undefined || e.taskId === task)
      if (values.json === true) {
        io.out.write(`${JSON.stringify(events, null, 2)}\n`)
        return 0
      }
      const p = paint(io.out.isTTY === true)
      const calls = events.filter((e): e is ModelCalledEvent => e.type === 'model.called')
      if (calls.length === 0) {
        io.out.write(
          `Run ${record.id} has no model calls${task === undefined ? '' : ` in task "${task}"`}: only language-model agents (defineLlmAgent) make them.\n`,
        )
        return 0
      }
      const lines: string[] = [`${p.bold(`Model calls of run ${record.id}`)} (workflow "${record.workflow}")`]
      let current: string | undefined
      for (const e of events) {
        if (e.taskId !== current) {
          current = e.taskId
          lines.push('', `${p.bold(`task ${e.taskId}`)}${e.type === 'model.called' ? ` · ${e.agent}` : ''}`)
        }
        if (e.type === 'model.called') lines.push(...formatCall(e, p))
        else lines.push(formatToolResult(e, p))
      }
      const { total, perAgent } = spendOf(calls)
      lines.push('', p.bold('totals'))
      for (const [agent, s] of Object.entries(perAgent)) lines.push(`  ${agent.padEnd(22)} ${formatSpend(s)}`)
      lines.push(`  ${'run'.padEnd(22)} ${formatSpend(total)}`)
      io.out.write(`${lines.join('\n')}\n`)
      return 0
    })
  },
}
