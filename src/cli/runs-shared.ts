import { noSpend, type ModelSpend } from '../core/model-spend.js'
import type { TaskState } from '../core/states.js'
import { Orchestrator } from '../orchestrator/orchestrator.js'
import { parseStoreSpec } from '../store/open-store.js'
import type { GeneratedSummary, RunRecord, TaskRecord } from '../store/records.js'
import { openCliBackend, openCliStore, runNotFound, type CliStore } from './store-option.js'

/**
 * Opens the store of `--store` (a SQLite file that does not exist is seen as
 * an empty store, and not created), runs `fn` with an orchestrator on it,
 * and closes it.
 */
export async function withStore<T>(
  flag: string | undefined,
  fn: (orchestrator: Orchestrator, store: CliStore) => Promise<T>,
): Promise<T> {
  const store = await openCliStore(flag, { readOnlyIfMissing: true })
  const orchestrator = new Orchestrator({ store: store.store })
  try {
    return await fn(orchestrator, store)
  } finally {
    await orchestrator.close()
  }
}

/**
 * Like {@link withStore}, for a command that runs agents on stored runs
 * (resume, recover, replay): when the store exists, the orchestrator is
 * opened on its whole backend, so that the journal of durable steps (model
 * calls, `ctx.step`) and the artifacts are the store's, as for
 * `flotilla run` — a resumed task replays the model calls answered before
 * the crash instead of paying for them again.
 */
export async function withRunStore<T>(
  flag: string | undefined,
  fn: (orchestrator: Orchestrator, store: CliStore) => Promise<T>,
): Promise<T> {
  const probe = await openCliStore(flag, { readOnlyIfMissing: true })
  if (!probe.exists || parseStoreSpec(probe.spec).kind === 'memory') {
    const orchestrator = new Orchestrator({ store: probe.store })
    try {
      return await fn(orchestrator, probe)
    } finally {
      await orchestrator.close()
    }
  }
  await probe.store.close()
  const backend = await openCliBackend(flag)
  let orchestrator: Orchestrator
  try {
    orchestrator = new Orchestrator({ backend })
  } catch (e) {
    await backend.close()
    throw e
  }
  try {
    return await fn(orchestrator, { ...probe, store: backend.store })
  } finally {
    await orchestrator.close()
  }
}

/** The stored run `runId`, or `RUN_NOT_FOUND` naming the store. */
export async function findRun(orchestrator: Orchestrator, runId: string, store: CliStore): Promise<RunRecord> {
  const record = await orchestrator.store.getRun(runId as RunRecord['id'])
  if (record === undefined) throw runNotFound(runId, store)
  return record
}

/** ` --store SPEC` to append to a suggested command when the store was named with `--store`. */
export function storeArg(flag: string | undefined): string {
  if (flag === undefined) return ''
  const shown = flag.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@')
  return ` --store ${/[\s"'$]/.test(shown) ? JSON.stringify(shown) : shown}`
}

/** Tasks of a run by state, with how many are done (in a final state). */
export interface TaskCounts {
  total: number
  done: number
  byState: Partial<Record<TaskState, number>>
}

/** Counts the tasks of a run by state. */
export function countTasks(tasks: readonly TaskRecord[]): TaskCounts {
  const byState: Partial<Record<TaskState, number>> = {}
  let done = 0
  for (const t of tasks) {
    byState[t.state] = (byState[t.state] ?? 0) + 1
    if (t.state === 'SUCCEEDED' || t.state === 'FAILED' || t.state === 'SKIPPED' || t.state === 'CANCELLED') done++
  }
  return { total: tasks.length, done, byState }
}

/** Wall time of a run from start to finish, or `undefined` while it is unfinished. */
export function runDuration(record: RunRecord): number | undefined {
  const start = record.startedAt ?? record.createdAt
  return record.finishedAt === undefined ? undefined : Math.max(0, record.finishedAt - start)
}

/** The JSON of a run in `runs list` and `runs show`: every field, `null` when unset, times in epoch ms. */
export function runJson(record: RunRecord, tasks: readonly TaskRecord[]): Record<string, unknown> {
  const counts = countTasks(tasks)
  return {
    id: record.id,
    workflow: record.workflow,
    state: record.state,
    createdAt: record.createdAt,
    startedAt: record.startedAt ?? null,
    finishedAt: record.finishedAt ?? null,
    durationMs: runDuration(record) ?? null,
    parentRunId: record.parentRunId ?? null,
    parentTaskId: record.parentTaskId ?? null,
    error: record.error ?? null,
    summary: record.summary ?? null,
    tasks: { total: counts.total, done: counts.done, byState: counts.byState },
  }
}

/** The JSON of one stored task in `runs show`. */
export function taskJson(t: TaskRecord): Record<string, unknown> {
  return {
    id: t.taskId,
    state: t.state,
    attempts: t.attempt,
    agent: t.agent ?? null,
    startedAt: t.startedAt ?? null,
    finishedAt: t.finishedAt ?? null,
    durationMs:
      t.startedAt !== undefined && t.finishedAt !== undefined ? Math.max(0, t.finishedAt - t.startedAt) : null,
    idempotencyKey: t.idempotencyKey,
    output: t.output ?? null,
    error: t.error ?? null,
    model: t.model ?? null,
  }
}

/**
 * What `runs show` prints of the tasks' model spend: the run's total (summed
 * from the task records) and a cell per task (`$0.0012 · 3 calls`, `–`);
 * `undefined` when no task called a model (the table keeps its columns).
 */
export function taskSpendView(
  tasks: readonly { model?: ModelSpend | null | undefined }[],
  summary?: { spend: ModelSpend } | null,
): { total: ModelSpend; cells: string[] } | undefined {
  if (!tasks.some((t) => t.model != null) && summary == null) return undefined
  const total = noSpend()
  // The run's generated summary counts in its cost.
  for (const spend of [...tasks.map((t) => t.model), summary?.spend]) {
    if (spend == null) continue
    for (const k of Object.keys(total) as (keyof ModelSpend)[]) total[k] += spend[k]
  }
  const cells = tasks.map((t) =>
    t.model == null
      ? '–'
      : `$${t.model.costUsd.toFixed(4)} · ${t.model.calls} ${t.model.calls === 1 ? 'call' : 'calls'}`,
  )
  return { total, cells }
}

/**
 * What `runs show` prints of a run's generated summary: a heading naming the
 * model and what it cost, then the text, wrapped at `width` columns.
 */
export function formatGeneratedSummary(summary: GeneratedSummary, width = 100): string {
  const words = summary.text.split(/\s+/).filter((w) => w !== '')
  const lines: string[] = []
  let line = ''
  for (const w of words) {
    if (line !== '' && line.length + 1 + w.length > Math.max(20, width - 2)) {
      lines.push(line)
      line = w
    } else line = line === '' ? w : `${line} ${w}`
  }
  if (line !== '') lines.push(line)
  return `Summary (by ${summary.model}, $${summary.spend.costUsd.toFixed(4)}):\n${lines.map((l) => `  ${l}`).join('\n')}\n`
}
