/**
 * Starting a run on an orchestrator: the workflow compiled when given as a
 * spec, its input and summary model checked before anything is stored, the
 * run's concurrency and id, then the engine's run and its handle.
 *
 * @module
 */
import { FlotillaError } from '../core/errors.js'
import { asRunId, newRunId } from '../core/ids.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import type { OrchestratorParts } from './orchestrator-parts.js'
import { runDebug } from './run-control.js'
import type { RunHandle, RunOptions } from './run-handle.js'

/** See `Orchestrator.start`. Nothing is stored if the workflow does not validate. */
export function startRun<O extends Record<string, unknown> = Record<string, unknown>>(
  parts: Pick<OrchestratorParts, 'engine' | 'control'>,
  workflow: Workflow<O> | WorkflowSpec,
  input: unknown,
  options: RunOptions,
): RunHandle<O> {
  const { engine, control } = parts
  const wf: Workflow = 'hash' in workflow ? workflow : compileWorkflow(workflow)
  checkNotOptions(wf, input, options)
  const runInput = control.prepare(wf, input)
  const concurrency = options.concurrency ?? wf.concurrency
  if (!(concurrency >= 1))
    throw new FlotillaError('VALIDATION_FAILED', `Run concurrency must be ≥ 1, got ${concurrency}.`)
  const id = options.runId !== undefined ? asRunId(options.runId) : newRunId()
  const run = engine.start({
    id,
    workflow: wf,
    input: runInput,
    concurrency,
    callbacks: { onProgress: options.onProgress },
    ...(options.actor === undefined ? {} : { actor: options.actor }),
    debug: runDebug(options),
  })
  return control.handle<O>(run, options)
}

/** The names of {@link RunOptions}: an input made only of them was meant as options. */
const OPTION_NAMES = new Set(['concurrency', 'onProgress', 'onEvent', 'runId', 'actor', 'debug', 'breakOnError'])

/**
 * `run(workflow, { concurrency: 4 })` passes the options as the run's input
 * (options come third): refused with `VALIDATION_FAILED` when the workflow
 * declares no inputs, no options were given, and every key of the input is
 * an option's name.
 */
function checkNotOptions(wf: Workflow, input: unknown, options: RunOptions): void {
  if (wf.spec.inputs !== undefined || input === null || typeof input !== 'object' || Array.isArray(input)) return
  const keys = Object.keys(input)
  if (keys.length === 0 || Object.keys(options).length > 0 || !keys.every((k) => OPTION_NAMES.has(k))) return
  throw new FlotillaError(
    'VALIDATION_FAILED',
    `The input of workflow "${wf.name}" is { ${keys.join(', ')} }, which are run options: pass them third, run(workflow, input, { ${keys.join(', ')} }) (or declare them under "inputs" if the workflow really takes them).`,
    { details: { field: 'input', options: keys } },
  )
}
