import { existsSync, statSync } from 'node:fs'
import type { RunEvent } from '../core/events.js'
import { asRunId, asTaskId } from '../core/ids.js'
import type { TaskState } from '../core/states.js'
import type { TaskRecord } from '../store/records.js'
import { loadWorkflowFile } from '../workflows/load.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { parseInputs } from './args.js'
import { formatEventLine } from './event-lines.js'
import type { CliIO } from './execute-run.js'
import { formatDateTime, formatDuration, formatTable, paint } from './format.js'
import { formatOutputs, outputWidth, storedFinalOutputs } from './outputs.js'
import { followRemote, type ApiRun, type ApiTask, type Remote } from './remote.js'
import { formatGeneratedSummary, taskSpendView } from './runs-shared.js'
import { formatSpend } from './summary.js'
import { formatRunTree, runTree, type RunTreeSource, type TreeRun } from './run-tree.js'

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

function duration(r: { startedAt: number | null; finishedAt: number | null; createdAt?: number }): string {
  const start = r.startedAt ?? r.createdAt
  return r.finishedAt === null || start === undefined ? '–' : formatDuration(Math.max(0, r.finishedAt - start))
}

/** `flotilla runs list --server`: a page of runs from the API. */
export async function remoteRunsList(
  remote: Remote,
  options: { states: readonly string[] | undefined; workflow: string | undefined; limit: number; json: boolean },
  io: CliIO,
): Promise<number> {
  const { runs } = await remote.call((api) =>
    api.GET('/api/v1/runs', {
      params: {
        query: {
          limit: options.limit,
          ...(options.states === undefined ? {} : { state: options.states.join(',') }),
          ...(options.workflow === undefined ? {} : { workflow: options.workflow }),
        },
      },
    }),
  )
  if (options.json) io.out.write(json(runs))
  else if (runs.length === 0) io.out.write(`No runs on ${remote.url}.\n`)
  else
    io.out.write(
      formatTable(
        ['ID', 'WORKFLOW', 'STATE', 'CREATED', 'DURATION'],
        runs.map((r) => [r.id, r.workflow, r.state, formatDateTime(r.createdAt), duration(r)]),
      ),
    )
  return 0
}

/** A run as the tree of runs reads it. */
function treeRun(r: ApiRun): TreeRun {
  return {
    id: asRunId(r.id),
    workflow: r.workflow,
    state: r.state,
    parentRunId: r.parentRunId === null ? undefined : asRunId(r.parentRunId),
    parentTaskId: r.parentTaskId === null ? undefined : asTaskId(r.parentTaskId),
  }
}

/** The tree of runs read over the API: child runs by `GET /runs?parentRunId=`, their tasks' model spend. */
function apiTreeSource(remote: Remote): RunTreeSource {
  return {
    listRuns: async ({ parentRunId }) =>
      (
        await remote.call((api) => api.GET('/api/v1/runs', { params: { query: { parentRunId, limit: 500 } } }))
      ).runs.map(treeRun),
    getTasks: async (id) =>
      (await remote.call((api) => api.GET('/api/v1/runs/{id}/tasks', { params: { path: { id } } }))).tasks.map((t) => ({
        taskId: asTaskId(t.taskId),
        agent: t.agent ?? undefined,
        state: t.state as TaskState,
        ...(t.model === null ? {} : { model: t.model }),
      })),
    getRun: (id) =>
      remote.call((api) => api.GET('/api/v1/runs/{id}', { params: { path: { id } } })).then(treeRun, () => undefined),
  }
}

async function runAndTasks(remote: Remote, id: string): Promise<{ run: ApiRun; tasks: ApiTask[] }> {
  const run = await remote.call((api) => api.GET('/api/v1/runs/{id}', { params: { path: { id } } }))
  const { tasks } = await remote.call((api) => api.GET('/api/v1/runs/{id}/tasks', { params: { path: { id } } }))
  return { run, tasks }
}

/** `flotilla runs show <id> --server`: the run, its tasks and recent events from the API. */
export async function remoteRunsShow(
  remote: Remote,
  id: string,
  options: { events: number; json: boolean },
  io: CliIO,
): Promise<number> {
  const { run, tasks } = await runAndTasks(remote, id)
  const all =
    options.events > 0
      ? (
          await remote.call((api) =>
            api.GET('/api/v1/runs/{id}/events', { params: { path: { id }, query: { limit: 1000 } } }),
          )
        ).events
      : []
  const recent = all.slice(Math.max(0, all.length - options.events))
  const tree = await runTree(apiTreeSource(remote), treeRun(run))
  if (options.json) {
    io.out.write(json({ run, tasks, events: recent.map((e) => ({ seq: e.seq, ...e.event })), tree }))
    return 0
  }
  const lines = [
    `Run ${run.id} of workflow "${run.workflow}": ${run.state}`,
    `  created    ${formatDateTime(run.createdAt)}`,
    `  started    ${formatDateTime(run.startedAt ?? undefined)}`,
    `  finished   ${formatDateTime(run.finishedAt ?? undefined)}${run.finishedAt === null ? '' : ` (${duration(run)})`}`,
  ]
  if (run.parentRunId !== null)
    lines.push(
      run.parentTaskId === null
        ? `  replay of  ${run.parentRunId}`
        : `  child of   ${run.parentRunId} (task ${run.parentTaskId})`,
    )
  if (run.error !== null) lines.push(`  error      [${run.error.code}] ${run.error.message}`)
  const spend = taskSpendView(tasks, run.summary)
  if (spend !== undefined) lines.push(`  model      ${formatSpend(spend.total)}`)
  lines.push(`  server     ${remote.url}`)
  io.out.write(`${lines.join('\n')}\n\n`)
  io.out.write(
    formatTable(
      ['TASK', 'STATE', 'ATTEMPTS', 'AGENT', 'DURATION', ...(spend === undefined ? [] : ['MODEL']), 'ERROR'],
      tasks.map((t, k) => [
        t.taskId,
        t.state,
        String(t.attempt),
        t.agent ?? '–',
        duration(t),
        ...(spend === undefined ? [] : [spend.cells[k]]),
        t.error === null ? '' : `${t.error.code} ${t.error.message}`,
      ]),
      '  ',
    ),
  )
  if (run.summary !== null) io.out.write(`\n${formatGeneratedSummary(run.summary)}`)
  if (tree.children.length > 0) io.out.write(`\nRuns and agents:\n${formatRunTree(tree, '  ').join('\n')}\n`)
  if (recent.length > 0) {
    io.out.write(`\nRecent events (last ${recent.length}):\n`)
    for (const e of recent) {
      const line = formatEventLine(e.event as unknown as RunEvent, true)
      if (line !== undefined) io.out.write(`  ${line}\n`)
    }
  }
  return 0
}

/** `flotilla runs pause|resume|cancel <id> --server`: the control call of the API. */
export async function remoteControl(
  remote: Remote,
  action: 'pause' | 'resume' | 'cancel',
  id: string,
  options: { reason?: string | undefined; json: boolean },
  io: CliIO,
): Promise<number> {
  const path = { params: { path: { id } } }
  const run =
    action === 'pause'
      ? await remote.call((api) => api.POST('/api/v1/runs/{id}/pause', path))
      : action === 'resume'
        ? await remote.call((api) => api.POST('/api/v1/runs/{id}/resume', path))
        : await remote.call((api) =>
            api.POST('/api/v1/runs/{id}/cancel', {
              ...path,
              body: options.reason === undefined ? {} : { reason: options.reason },
            }),
          )
  if (options.json) io.out.write(json({ ok: true, runId: run.id, state: run.state }))
  else
    io.out.write(
      `Run ${run.id} is ${run.state} on ${remote.url}${action === 'resume' ? ' (its workers go on with it)' : ''}.\n`,
    )
  return 0
}

function isFile(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isFile()
  } catch {
    return false
  }
}

/**
 * `flotilla run <workflow> --server`: starts a run of a named workflow of the
 * server (or of a workflow file, sent whole) and, unless `detach`, follows
 * its events until it ends. Exit 0 when it SUCCEEDED.
 */
export async function remoteRun(
  remote: Remote,
  target: string,
  options: { input: readonly string[]; json: boolean; detach: boolean; verbose: boolean },
  io: CliIO,
): Promise<number> {
  let spec: WorkflowSpec
  let run: ApiRun
  if (isFile(target)) {
    spec = (await loadWorkflowFile(target)).spec
    const input = parseInputs('run', options.input, spec.inputs)
    run = await remote.call((api) =>
      api.POST('/api/v1/runs', { body: { workflow: spec as unknown as Record<string, unknown>, input } }),
    )
  } else {
    const wf = await remote.call((api) => api.GET('/api/v1/workflows/{name}', { params: { path: { name: target } } }))
    spec = wf.spec as unknown as WorkflowSpec
    const input = parseInputs('run', options.input, spec.inputs)
    run = await remote.call((api) =>
      api.POST('/api/v1/workflows/{name}/runs', { params: { path: { name: target } }, body: { input } }),
    )
  }
  if (options.detach) {
    io.out.write(
      options.json
        ? json({ runId: run.id, state: run.state })
        : `Started run ${run.id} of workflow "${run.workflow}" on ${remote.url}.\nFollow it with: flotilla runs show ${run.id} --server ${remote.url}\n`,
    )
    return 0
  }
  if (!options.json)
    io.out.write(
      `Started run ${run.id} of workflow "${run.workflow}" on ${remote.url}; following it (Ctrl-C stops following, the run goes on).\n`,
    )
  await followRemote(remote, run.id, (event) => {
    if (options.json) return
    const line = formatEventLine(event as unknown as RunEvent, options.verbose)
    if (line !== undefined) io.out.write(`${line}\n`)
  })
  const done = await runAndTasks(remote, run.id)
  const outputs = storedFinalOutputs(spec, done.tasks as unknown as TaskRecord[])
  if (options.json) {
    io.out.write(json({ run: done.run, outputs: Object.fromEntries(outputs), tasks: done.tasks }))
  } else {
    const p = paint(io.out.isTTY === true)
    const ok = done.tasks.filter((t) => t.state === 'SUCCEEDED').length
    const error = done.run.error === null ? '' : `\n  [${done.run.error.code}] ${done.run.error.message}`
    io.out.write(
      `\nRun ${done.run.id} ${done.run.state} in ${duration(done.run)}: ${ok}/${done.tasks.length} tasks succeeded${error}\n`,
    )
    io.out.write(
      formatOutputs(outputs, p, {
        width: outputWidth(io.out.columns),
        hint: `flotilla runs show ${done.run.id} --server ${remote.url} --json`,
      }),
    )
  }
  return done.run.state === 'SUCCEEDED' ? 0 : 1
}
