import type { GraphTask, Run, RunEvent, RunState, SerializedError, Task, TaskState } from '../types.js'
import {
  depIndex,
  longestPath,
  PeakTracker,
  sweepPeak,
  zeroCounts,
  type DepIndex,
  type StateCounts,
} from './figures.js'

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

/** Above this many tasks a live run's critical path is recomputed at most once per {@link CRITICAL_MS}. */
export const CRITICAL_EVERY_ABOVE = 2000
/** Least time between two computations of a big live run's critical path. */
export const CRITICAL_MS = 1000

/**
 * The live state of one run, built from its record, tasks and graph, then
 * changed event by event. Its figures (counts by state, by layer, spend,
 * attempts, busy time, peak parallelism) are kept as the events come, in
 * O(1) each (O(log n) for the peak): a redraw reads them without going over
 * every task. Tasks' state,
 * attempts and spend change through its methods only.
 */
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
  /** Bumped when a task's state changes (the graph's layer counts depend on it). */
  stateVersion = 0
  /** How many tasks are in each state. */
  readonly counts: StateCounts = zeroCounts()
  /** For each depth (layer) of the graph, in the order first met, how many of its tasks are in each state. */
  readonly layers = new Map<number, StateCounts>()
  /** Attempts so far, and those that ended in a retry. */
  attempts = 0
  retries = 0
  private costUsd = 0
  private tokens = 0
  /** Time spent by the ended attempts, and the sum of the open ones' starts (from {@link base}). */
  private closedBusy = 0
  private openStarts = 0
  /** Open attempts' starts are summed from here (timestamps summed by thousands would lose precision). */
  private base: number | undefined
  private readonly peak = new PeakTracker()
  private graphIndex: DepIndex
  private endedPeak: { version: number; peak: number } | undefined
  private critical: { version: number; now: number; at: number; path: Set<string> } | undefined

  constructor(run: Run, graph: GraphTask[], records: Task[]) {
    this.run = run
    const byId = new Map(records.map((t) => [t.taskId, t]))
    this.addViews(graph, 0, graph.length, byId)
    this.place(0, graph.length)
    this.graphIndex = this.index()
  }

  /**
   * Builds the model of a big run in slices of `slice` tasks, awaiting
   * `pause` between them (a timer: the page stays responsive while 10,000
   * tasks are set up). The same model as the constructor's.
   */
  static async build(
    run: Run,
    graph: GraphTask[],
    records: Task[],
    pause: () => Promise<void>,
    slice = 2500,
  ): Promise<RunModel> {
    const m = new RunModel(run, [], [])
    const byId = new Map(records.map((t) => [t.taskId, t]))
    for (let i = 0; i < graph.length; i += slice) {
      m.addViews(graph, i, Math.min(graph.length, i + slice), byId)
      await pause()
    }
    for (let i = 0; i < graph.length; i += slice) {
      m.place(i, Math.min(graph.length, i + slice))
      await pause()
    }
    m.graphIndex = m.index()
    return m
  }

  /** Adds the views of tasks `from` … `to - 1` of the graph. */
  private addViews(graph: GraphTask[], from: number, to: number, byId: Map<string, Task>): void {
    for (let index = from; index < to; index++) {
      const g = graph[index] as GraphTask
      const r = byId.get(g.taskId)
      const view: TaskView = {
        id: g.taskId,
        index,
        state: 'PENDING',
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
    }
  }

  /** Gives tasks `from` … `to - 1` their depth (every task has its view) and counts their state and spend. */
  private place(from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const v = this.order[i] as TaskView
      for (const d of v.graph?.dependsOn ?? []) v.depth = Math.max(v.depth, (this.tasks.get(d)?.depth ?? -1) + 1)
      let layer = this.layers.get(v.depth)
      if (layer === undefined) this.layers.set(v.depth, (layer = zeroCounts()))
      layer.PENDING++
      this.counts.PENDING++
      this.setState(v, v.record?.state ?? 'PENDING')
      this.addSpend(v, 1)
    }
  }

  private index(): DepIndex {
    return depIndex(
      this.order.map((t) => t.id),
      this.order.map((t) => t.graph?.dependsOn ?? []),
    )
  }

  /** Moves a task to a state, keeping the counts. */
  private setState(t: TaskView, s: TaskState): void {
    if (t.state === s) return
    const layer = this.layers.get(t.depth)
    this.counts[t.state]--
    this.counts[s]++
    if (layer !== undefined) {
      layer[t.state]--
      layer[s]++
    }
    t.state = s
    this.stateVersion++
  }

  /** Adds (sign 1) or takes back (-1) a task's spend: the larger of its record's and its events'. */
  private addSpend(t: TaskView, sign: 1 | -1): void {
    const rec = t.record?.model
    this.costUsd += sign * Math.max(rec?.costUsd ?? 0, t.eventCost)
    this.tokens +=
      sign * Math.max(rec === undefined || rec === null ? 0 : rec.inputTokens + rec.outputTokens, t.eventTokens)
  }

  /** Starts an attempt of a task (at its start). */
  private openAttempt(t: TaskView, a: Attempt): void {
    this.base ??= a.start
    t.attempts.push(a)
    this.attempts++
    this.openStarts += a.start - this.base
    this.peak.open(a.start)
  }

  /** Ends an open attempt at `at`. */
  private closeAttempt(a: Attempt, at: number, outcome: Attempt['outcome'], error: string | undefined): void {
    a.end = at
    a.outcome = outcome
    a.error = error
    if (outcome === 'retrying') this.retries++
    this.openStarts -= a.start - (this.base ?? a.start)
    this.closedBusy += Math.max(0, at - a.start)
    this.peak.close(at)
  }

  /** Replaces the task records (after a refetch); event-made attempts stay. */
  setRecords(records: Task[]): void {
    for (const r of records) {
      const v = this.tasks.get(r.taskId)
      if (v === undefined) continue
      this.addSpend(v, -1)
      v.record = r
      this.addSpend(v, 1)
      this.setState(v, r.state)
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
      if (held !== undefined && last !== undefined && last.end === undefined)
        this.closeAttempt(last, e.at, 'failed', e.error?.message)
      if (held !== undefined && !(held.record !== undefined && FINAL_TASK.has(held.record.state)))
        this.setState(held, 'RETRYING')
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
      if (!settled) this.setState(t, s)
    }
    const current = (): Attempt | undefined => t.attempts.at(-1)
    const close = (outcome: Attempt['outcome'], error?: string): void => {
      const a = current()
      if (a !== undefined && a.end === undefined) this.closeAttempt(a, e.at, outcome, error)
    }
    switch (e.type) {
      case 'task.started':
        close('failed')
        this.openAttempt(t, {
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
          this.addSpend(t, -1)
          t.eventCost += e.costUsd ?? 0
          t.eventTokens += (e.usage?.inputTokens ?? 0) + (e.usage?.outputTokens ?? 0)
          this.addSpend(t, 1)
        }
        break
    }
  }

  /** Figures of the run as of `now`: read from what the events kept, in O(1). */
  stats(now: number): RunStats {
    const final = isFinal(this.run.state)
    const open = this.peak.running
    // Open attempts run until now; those of an ended run count nothing (as if they ended when they started).
    const openBusy = final || this.base === undefined ? 0 : Math.max(0, open * (now - this.base) - this.openStarts)
    const { done, succeeded, failed } = this.doneCounts()
    const start = this.run.startedAt ?? this.run.createdAt
    const wall = Math.max(1, (this.run.finishedAt ?? now) - start)
    const total = this.order.length
    const busy = this.closedBusy + openBusy
    // An ended run's open attempts took no time (they overlap nothing): a sweep tells, once per version.
    if (final && open > 0 && this.endedPeak?.version !== this.version)
      this.endedPeak = { version: this.version, peak: this.sweepPeak(now) }
    const peak = final && open > 0 ? (this.endedPeak?.peak ?? 0) : this.peak.value()
    let eta: number | undefined
    if (!final) {
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
      attempts: this.attempts,
      retries: this.retries,
      wallMs: wall,
      busyMs: busy,
      peak,
      efficiency: peak === 0 ? undefined : busy / (wall * peak),
      etaMs: eta,
      // Kept by adding and taking back: a rounding residue must not show as a negative cost.
      costUsd: Math.max(0, this.costUsd),
      tokens: this.tokens,
    }
  }

  private doneCounts(): { done: number; succeeded: number; failed: number } {
    const c = this.counts
    return { done: c.SUCCEEDED + c.FAILED + c.SKIPPED + c.CANCELLED, succeeded: c.SUCCEEDED, failed: c.FAILED }
  }

  /** Peak parallelism from every attempt (open ones end now, or at their start once the run ended). */
  private sweepPeak(now: number): number {
    const final = isFinal(this.run.state)
    const starts: number[] = []
    const ends: number[] = []
    for (const t of this.order)
      for (const a of t.attempts) {
        starts.push(a.start)
        ends.push(a.end ?? (final ? a.start : now))
      }
    return sweepPeak(starts, ends)
  }

  /**
   * The tasks on the longest path through the graph, weighted by how long
   * each took (1 ms when not run yet; a running one until `now`). One pass
   * over typed arrays, kept for a version; a live run of more than
   * {@link CRITICAL_EVERY_ABOVE} tasks recomputes it at most every
   * {@link CRITICAL_MS} (an ended run's at every change).
   */
  criticalPath(now: number): Set<string> {
    const c = this.critical
    // With no attempt open, a later `now` changes no task's weight.
    if (c !== undefined && c.version === this.version && (c.now === now || this.peak.running === 0)) return c.path
    const at = performance.now()
    if (
      c !== undefined &&
      !isFinal(this.run.state) &&
      this.order.length > CRITICAL_EVERY_ABOVE &&
      at - c.at < CRITICAL_MS
    )
      return c.path
    const order = this.order
    const path = longestPath(this.graphIndex, (i) => {
      const t = order[i] as TaskView
      const a0 = t.attempts[0]
      return a0 === undefined ? 1 : Math.max(1, ((t.attempts.at(-1) as Attempt).end ?? now) - a0.start)
    })
    const ids = new Set(path.map((i) => (order[i] as TaskView).id))
    this.critical = { version: this.version, now, at, path: ids }
    return ids
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
