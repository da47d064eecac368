import type { GraphTask, Run, RunEvent, RunState, SerializedError, Task, TaskState } from '../types'

/** One attempt of a task, from its events. */
export interface Attempt {
  attempt: number
  start: number
  end: number | undefined
  outcome: 'running' | 'succeeded' | 'failed' | 'retrying' | 'cancelled'
  error: string | undefined
  agent: string | undefined
}

/** A task as the run page shows it: its record, its place in the graph, what its events told. */
export interface TaskView {
  id: string
  index: number
  state: TaskState
  agent: string | null
  graph: GraphTask | undefined
  record: Task | undefined
  attempts: Attempt[]
  logs: RunEvent[]
  calls: RunEvent[]
  eventCost: number
  eventTokens: number
  depth: number
}

const FINAL_TASK = new Set<TaskState>(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'])

/** The live state of one run, built from its record, tasks and graph, then changed event by event. */
export class RunModel {
  run: Run
  readonly tasks = new Map<string, TaskView>()
  readonly order: TaskView[] = []
  lastProgress: { at: number; etaMs?: number; elapsedMs: number } | undefined
  /** Where a run started with `breakOnError` is paused: the failing task, its attempt and error (none once it goes on). */
  breakAt: { taskId: string; attempt: number | undefined; error: SerializedError | undefined } | undefined
  /** The debug options of its `run.started` event. */
  debug = { debug: false, breakOnError: false }
  /** Bumped when a task's state, attempts or spend change (the figures, the graph and the timeline depend on it). */
  version = 0

  constructor(run: Run, graph: GraphTask[], records: Task[]) {
    this.run = run
    const byId = new Map(records.map((t) => [t.taskId, t]))
    graph.forEach((g, index) => {
      const r = byId.get(g.taskId)
      const view: TaskView = {
        id: g.taskId,
        index,
        state: r?.state ?? 'PENDING',
        agent: r?.agent ?? g.agent,
        graph: g,
        record: r,
        attempts: [],
        logs: [],
        calls: [],
        eventCost: 0,
        eventTokens: 0,
        depth: 0,
      }
      this.tasks.set(g.taskId, view)
      this.order.push(view)
    })
    for (const v of this.order)
      for (const d of v.graph?.dependsOn ?? []) v.depth = Math.max(v.depth, (this.tasks.get(d)?.depth ?? -1) + 1)
  }

  /** Replaces the task records (after a refetch); event-made attempts stay. */
  setRecords(records: Task[]): void {
    for (const r of records) {
      const v = this.tasks.get(r.taskId)
      if (v === undefined) continue
      v.record = r
      v.state = r.state
      v.agent = r.agent ?? v.agent
    }
    this.version++
  }

  apply(e: RunEvent): void {
    this.version++
    const runStates: Record<string, RunState> = {
      'run.started': 'RUNNING',
      'run.recovered': 'RUNNING',
      'run.resumed': 'RUNNING',
      'run.paused': 'PAUSED',
      'run.succeeded': 'SUCCEEDED',
      'run.failed': 'FAILED',
      'run.cancelled': 'CANCELLED',
    }
    const next = runStates[e.type]
    if (next !== undefined) {
      if (e.type === 'run.started') this.debug = { debug: e.debug === true, breakOnError: e.breakOnError === true }
      this.breakAt =
        e.type === 'run.paused' && e.reason === 'break on error' && e.taskId !== undefined
          ? { taskId: e.taskId, attempt: e.attempt, error: e.error }
          : undefined
      // At a break the task's attempt failed; the task waits for its next one (RETRYING), no longer runs.
      const held = this.breakAt === undefined ? undefined : this.tasks.get(this.breakAt.taskId)
      const last = held?.attempts.at(-1)
      if (held !== undefined && last !== undefined && last.end === undefined) {
        last.end = e.at
        last.outcome = 'failed'
        last.error = e.error?.message
      }
      if (held !== undefined && !(held.record !== undefined && FINAL_TASK.has(held.record.state)))
        held.state = 'RETRYING'
      this.run = {
        ...this.run,
        state: next,
        ...(e.type === 'run.started' && this.run.startedAt === null ? { startedAt: e.at } : {}),
        ...(e.durationMs !== undefined ? { finishedAt: e.at } : {}),
      }
      return
    }
    if (e.type === 'run.progress' && e.progress !== undefined) {
      this.lastProgress = {
        at: e.at,
        elapsedMs: e.progress.elapsedMs,
        ...(e.progress.etaMs === undefined ? {} : { etaMs: e.progress.etaMs }),
      }
      return
    }
    if (e.taskId === undefined) return
    const t = this.tasks.get(e.taskId)
    if (t === undefined) return
    // A final stored state wins over the replay of the events that led to it (no flicker on a finished run's page).
    const settled = t.record !== undefined && FINAL_TASK.has(t.record.state)
    const setState = (s: TaskState): void => {
      if (!settled) t.state = s
    }
    const current = (): Attempt | undefined => t.attempts.at(-1)
    const close = (outcome: Attempt['outcome'], error?: string): void => {
      const a = current()
      if (a !== undefined && a.end === undefined) {
        a.end = e.at
        a.outcome = outcome
        a.error = error
      }
    }
    switch (e.type) {
      case 'task.started':
        close('failed')
        t.attempts.push({
          attempt: e.attempt ?? t.attempts.length + 1,
          start: e.at,
          end: undefined,
          outcome: 'running',
          error: undefined,
          agent: e.agent,
        })
        setState('RUNNING')
        if (e.agent !== undefined) t.agent = e.agent
        break
      case 'task.retrying':
        close('retrying', e.error?.message)
        setState('RETRYING')
        break
      case 'task.succeeded':
        close('succeeded')
        setState('SUCCEEDED')
        break
      case 'task.failed':
        close('failed', e.error?.message)
        setState('FAILED')
        break
      case 'task.cancelled':
        close('cancelled', e.reason)
        setState('CANCELLED')
        break
      case 'task.skipped':
        setState('SKIPPED')
        break
      case 'task.log':
        t.logs.push(e)
        break
      case 'model.called':
        t.calls.push(e)
        if (e.replayed !== true) {
          t.eventCost += e.costUsd ?? 0
          t.eventTokens += (e.usage?.inputTokens ?? 0) + (e.usage?.outputTokens ?? 0)
        }
        break
    }
  }

  /** Figures of the run as of `now`. */
  stats(now: number): RunStats {
    let done = 0
    let succeeded = 0
    let failed = 0
    let busy = 0
    let attempts = 0
    let retries = 0
    let cost = 0
    let tokens = 0
    // Peak parallelism: the starts and ends of the attempts, sorted as numbers (typed arrays: no objects, no comparator).
    const starts: number[] = []
    const ends: number[] = []
    for (const t of this.order) {
      if (FINAL_TASK.has(t.state)) done++
      if (t.state === 'SUCCEEDED') succeeded++
      if (t.state === 'FAILED') failed++
      for (const a of t.attempts) {
        attempts++
        if (a.outcome === 'retrying') retries++
        const end = a.end ?? (isFinal(this.run.state) ? a.start : now)
        busy += Math.max(0, end - a.start)
        starts.push(a.start)
        ends.push(end)
      }
      const rec = t.record?.model
      cost += Math.max(rec?.costUsd ?? 0, t.eventCost)
      tokens += Math.max(rec === undefined || rec === null ? 0 : rec.inputTokens + rec.outputTokens, t.eventTokens)
    }
    const s0 = Float64Array.from(starts).sort()
    const e0 = Float64Array.from(ends).sort()
    let running = 0
    let peak = 0
    // An attempt that ends when another starts does not overlap it: ends first at equal times.
    for (let i = 0, j = 0; i < s0.length; ) {
      if (j < e0.length && (e0[j] as number) <= (s0[i] as number)) {
        running--
        j++
      } else {
        running++
        i++
        peak = Math.max(peak, running)
      }
    }
    const start = this.run.startedAt ?? this.run.createdAt
    const wall = Math.max(1, (this.run.finishedAt ?? now) - start)
    const total = this.order.length
    let eta: number | undefined
    if (!isFinal(this.run.state)) {
      if (this.lastProgress?.etaMs !== undefined)
        eta = Math.max(0, this.lastProgress.etaMs - (now - this.lastProgress.at))
      else if (done > 0) eta = (wall * (total - done)) / done
    }
    return {
      total,
      done,
      percent: total === 0 ? 0 : (100 * done) / total,
      succeeded,
      failed,
      successRate: succeeded + failed === 0 ? undefined : succeeded / (succeeded + failed),
      attempts,
      retries,
      wallMs: wall,
      busyMs: busy,
      peak,
      efficiency: peak === 0 ? undefined : busy / (wall * peak),
      etaMs: eta,
      costUsd: cost,
      tokens,
    }
  }

  /** The tasks on the longest path through the graph, weighted by how long each took (1 ms when not run yet). */
  criticalPath(now: number): Set<string> {
    const best = new Map<string, { len: number; prev: string | undefined }>()
    let end: string | undefined
    let endLen = -1
    for (const t of this.order) {
      const a0 = t.attempts[0]
      const last = t.attempts.at(-1)
      const w = a0 === undefined ? 1 : Math.max(1, (last?.end ?? now) - a0.start)
      let len = 0
      let prev: string | undefined
      for (const d of t.graph?.dependsOn ?? []) {
        const b = best.get(d)
        if (b !== undefined && b.len > len) {
          len = b.len
          prev = d
        }
      }
      best.set(t.id, { len: len + w, prev })
      if (len + w > endLen) {
        endLen = len + w
        end = t.id
      }
    }
    const path = new Set<string>()
    for (let id = end; id !== undefined; id = best.get(id)?.prev) path.add(id)
    return path
  }
}

/** Figures of a run. */
export interface RunStats {
  total: number
  done: number
  percent: number
  succeeded: number
  failed: number
  successRate: number | undefined
  attempts: number
  retries: number
  wallMs: number
  busyMs: number
  peak: number
  efficiency: number | undefined
  etaMs: number | undefined
  costUsd: number
  tokens: number
}

export function isFinal(s: RunState): boolean {
  return s === 'SUCCEEDED' || s === 'FAILED' || s === 'CANCELLED'
}
