import type { Clock } from '../core/clock.js'
import { FlotillaError, isFlotillaError, toFlotillaError } from '../core/errors.js'
import type { ModelCalledEvent, RunEvent } from '../core/events.js'
import { taskSpendAfter } from '../core/model-spend.js'
import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type { LogLevel, StoredTaskSpend } from '../agents/context.js'
import type { Journal, ServiceMembers } from '../agents/service-members.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { Registry } from '../registry/registry.js'
import type { QueueClaim, QueueResult, QueueSelector, TaskQueue } from '../store/queue.js'
import type { Store } from '../store/store.js'
import { compileWorkflow, type Workflow } from './compile.js'
import type { InvokeNext } from './invoker.js'
import type { AttemptHandle } from './run-execution.js'
import type { WorkflowSpec } from './spec.js'
import { storedSpendOf, TaskContext, type ContextSink } from './task-context.js'
import { checkOutput, prepareInput } from './task-io.js'
import { isChildPlan } from './child-plan.js'
import { raceAttempt } from './attempt-race.js'

/** Options of an {@link Executor}. */
export interface ExecutorOptions {
  store: Store
  queue: TaskQueue
  registry: Registry
  clock: Clock
  /** This worker's id: the holder of its claims. */
  id: string
  /** Most attempts running at once. */
  concurrency: number
  /** How long a claim is held without a heartbeat, in ms. */
  leaseMs: number
  /** Interceptors composed once; `undefined` calls handlers directly. */
  invoke: InvokeNext | undefined
  /** Delivers events of attempts run here to local listeners. */
  deliver?: (events: readonly RunEvent[]) => void
  /** The outward services (messages, artifacts, cache) of a task's context. */
  services?: (instanceId: AgentId, runId: RunId, taskId: TaskId) => ServiceMembers | undefined
  /** The journal of an agent instance's tasks (`ctx.step`): the one service every step needs, without the others. */
  journal?: (instanceId: AgentId) => Journal | undefined
  /** Told when a result could not be stored (lease lost, run cancelled) or a claim failed. */
  onError?: (error: FlotillaError) => void
}

interface Running {
  claim: QueueClaim
  handle: AttemptHandle
  events: RunEvent[]
}

/** Workflows by run, compiled once per run (bounded). */
const MAX_CACHED_RUNS = 1000

/**
 * The executor of a worker: claims the attempts its agents can run, runs each
 * through the one invoker (interceptors, then the handler) with the task's
 * timeout and the run's cancellation, heartbeats its leases, and stores each
 * result fenced by attempt and lease. Inputs come from outputs it produced
 * itself when it has them, else from the store.
 */
export class Executor implements ContextSink {
  private readonly running = new Map<string, Running>()
  private readonly runs = new Map<RunId, { workflow: Workflow; input: unknown; traceParent: string | undefined }>()
  /** Outputs this executor stored, so a dependent running here does not read them back (bounded). */
  private readonly outputs = new Map<string, unknown>()
  /** Handlers that timed out or were aborted but have not returned: they keep their slots. */
  private lingering = 0

  constructor(private readonly o: ExecutorOptions) {}

  /** Attempts running now. */
  get active(): number {
    return this.running.size + this.lingering
  }

  /** The claims held now (for heartbeats and release). */
  claims(): QueueClaim[] {
    return [...this.running.values()].map((r) => r.claim)
  }

  /**
   * What this executor can run now: each registered agent by name with its
   * versions that have a free instance, and each capability of those. An agent
   * whose instances are all busy (or whose circuit is open) is left out, so no
   * attempt is claimed only to be handed back.
   */
  selectors(): QueueSelector[] {
    const byName = new Map<string, string[]>()
    const out: QueueSelector[] = []
    const registry = this.o.registry
    for (const def of registry.definitions()) {
      if (!registry.pool({ agent: def.name, version: def.version }).hasAvailable) continue
      const versions = byName.get(def.name) ?? []
      versions.push(def.version)
      byName.set(def.name, versions)
      for (const capability of def.capabilities ?? []) out.push({ capability, agent: def.name })
    }
    for (const [agent, versions] of byName) out.unshift({ agent, versions })
    return out
  }

  /** Claims up to the free slots and starts them; returns how many were claimed. */
  async claimAndRun(selectors: readonly QueueSelector[], batch: number): Promise<number> {
    const free = Math.min(batch, this.o.concurrency - this.running.size - this.lingering)
    if (free <= 0 || selectors.length === 0) return 0
    const claims = await this.o.queue.claim(this.o.id, selectors, free, this.o.leaseMs)
    for (const c of claims) void this.execute(c)
    return claims.length
  }

  /** Renews the leases of running attempts; aborts those lost or cancelled. */
  async heartbeat(): Promise<void> {
    const claims = this.claims()
    if (claims.length === 0) return
    const report = await this.o.queue.heartbeat(this.o.id, claims, this.o.leaseMs)
    for (const c of report.lost)
      this.abort(
        c,
        new FlotillaError(
          'TASK_CANCELLED',
          `Worker ${this.o.id} lost its lease on task "${c.taskId}" attempt ${c.attempt}; another worker runs it.`,
        ),
      )
    for (const c of report.cancelled)
      this.abort(c, new FlotillaError('TASK_CANCELLED', `Run ${c.runId} was cancelled (by another process).`))
  }

  /** Aborts every running attempt (shutdown). */
  abortAll(reason: string): void {
    for (const r of this.running.values()) r.handle.controller?.abort(new FlotillaError('TASK_CANCELLED', reason))
  }

  private abort(c: { runId: RunId; taskId: TaskId; attempt: number }, error: FlotillaError): void {
    const r = this.running.get(`${c.runId}\u0000${c.taskId}`)
    if (r === undefined || r.claim.attempt !== c.attempt) return
    ;(r.handle.controller ??= new AbortController()).abort(error)
  }

  private async execute(claim: QueueClaim): Promise<void> {
    const key = `${claim.runId}\u0000${claim.taskId}`
    const started = this.o.clock.now()
    let pool: AgentPool | undefined
    let instance: Exclude<ReturnType<AgentPool['acquire']>, string> | undefined
    const events: RunEvent[] = []
    let invocation: Promise<unknown> | undefined
    let settled = false
    let storing = false
    try {
      const { workflow, input: runInput, traceParent } = await this.runOf(claim.runId)
      const i = workflow.indexOf.get(claim.taskId)
      if (i === undefined)
        throw new FlotillaError('WORKFLOW_INVALID', `Run ${claim.runId} has no task "${claim.taskId}".`)
      const task = workflow.tasks[i]
      pool = this.o.registry.pool(
        claim.agent !== undefined
          ? { agent: claim.agent, ...(claim.version !== undefined ? { version: claim.version } : {}) }
          : { capability: claim.capability! },
      )
      const picked = pool.acquire()
      if (picked === 'busy') {
        pool = undefined
        await this.o.queue.release(this.o.id, [claim])
        return
      }
      if (typeof picked === 'string') {
        throw new FlotillaError(
          picked === 'open' ? 'CIRCUIT_OPEN' : 'AGENT_UNAVAILABLE',
          `Task "${task.id}": no instance of ${pool.key} can take work here (${picked === 'open' ? 'circuit open' : 'no ready instance'}).`,
          {
            details: { taskId: task.id, pool: pool.key },
          },
        )
      }
      instance = picked
      const handle: AttemptHandle = { controller: undefined, instance, pool, timer: undefined }
      this.running.set(key, { claim, handle, events })
      const def = instance.definition
      events.push({
        type: 'task.started',
        at: this.o.clock.wallNow(),
        runId: claim.runId,
        taskId: claim.taskId,
        attempt: claim.attempt,
        agent: instance.key,
        instanceId: instance.id,
      })
      const values = await this.valuesFor(workflow, i, claim.runId, runInput)
      const input = prepareInput(task, def, values)
      const ctx = new TaskContext(this, handle, claim.runId, claim.taskId, claim.attempt, instance.id)
      ctx.journalOnFirstAttempt = true
      let output = await raceAttempt(this.o.clock, task.timeoutMs, handle, claim, () => {
        const call =
          this.o.invoke !== undefined
            ? this.o.invoke({
                definition: def,
                input,
                context: ctx,
                runId: claim.runId,
                taskId: claim.taskId,
                attempt: claim.attempt,
                traceParent,
              })
            : Promise.resolve(def.handler(input as never, ctx))
        const settle = (): void => void (settled = true)
        call.then(settle, settle)
        invocation = call
        return call
      })
      output = checkOutput(def, output, task.id)
      if (isChildPlan(output)) throw childRunUnsupported(def.name, task.id)
      const durationMs = this.o.clock.now() - started
      // The agent did its part: its instance is free, and a store that is down says nothing about it (no circuit opens).
      pool.release(instance, durationMs, true)
      instance = undefined
      events.push({
        type: 'task.succeeded',
        at: this.o.clock.wallNow(),
        runId: claim.runId,
        taskId: claim.taskId,
        attempt: claim.attempt,
        durationMs,
      })
      storing = true
      await this.storeResult(claim, { ok: true, output }, events)
      this.remember(`${claim.runId}\u0000${claim.taskId}`, output)
    } catch (e) {
      // A result the store would not take (down longer than the lease, or fenced): the claim is re-offered after its lease.
      if (storing) return this.o.onError?.(toFlotillaError(e, 'STORE_UNAVAILABLE'))
      const error = isFlotillaError(e) ? e : toFlotillaError(e, 'TASK_FAILED')
      if (instance !== undefined && pool !== undefined) {
        if (invocation !== undefined && !settled)
          this.holdUntilSettled(invocation, pool, instance, this.o.clock.now() - started)
        else pool.release(instance, this.o.clock.now() - started, false)
      }
      await this.fail(claim, error, events)
    } finally {
      this.running.delete(key)
    }
  }

  /** A handler that timed out (or was aborted) and ignores its signal keeps its instance slot and a claim slot until it returns. */
  private holdUntilSettled(
    invocation: Promise<unknown>,
    pool: AgentPool,
    instance: NonNullable<AttemptHandle['instance']>,
    ms: number,
  ): void {
    this.lingering++
    instance.late++
    const free = (): void => {
      this.lingering--
      instance.late--
      pool.release(instance, ms, false)
    }
    invocation.then(free, free)
  }

  private async fail(claim: QueueClaim, error: FlotillaError, events: RunEvent[]): Promise<void> {
    if (error.code === 'STORE_CONFLICT' || error.code === 'STORE_UNAVAILABLE') return this.o.onError?.(error)
    try {
      await this.storeResult(claim, { ok: false, error: error.toJSON() }, events)
    } catch (e) {
      this.o.onError?.(toFlotillaError(e, 'STORE_UNAVAILABLE'))
    }
  }

  /**
   * Stores an attempt's result, trying again while the store cannot be
   * reached (a restart, a network blip) for up to a lease: a computed result
   * is kept rather than computed again. The attempt stays among the running
   * ones meanwhile, so heartbeats keep renewing its claim.
   */
  private async storeResult(claim: QueueClaim, result: QueueResult, events: RunEvent[]): Promise<void> {
    const until = this.o.clock.now() + this.o.leaseMs
    result = await this.withModelSpend(claim, result, events)
    for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
      try {
        return await this.o.queue.complete(this.o.id, claim, result, events)
      } catch (e) {
        if (toFlotillaError(e, 'STORE_UNAVAILABLE').code !== 'STORE_UNAVAILABLE' || this.o.clock.now() + wait > until)
          throw e
        await new Promise<void>((resolve) => this.o.clock.setTimeout(resolve, wait))
      }
    }
  }

  /**
   * The result with the task's model spend when the attempt reported model
   * calls: the stored spend (earlier attempts', read now: this attempt holds
   * the task, so no other write of it can come in between) merged with this
   * attempt's calls.
   */
  private async withModelSpend(claim: QueueClaim, result: QueueResult, events: RunEvent[]): Promise<QueueResult> {
    const calls = events.filter(
      (e): e is ModelCalledEvent =>
        e.type === 'model.called' && e.taskId === claim.taskId && e.attempt === claim.attempt,
    )
    if (calls.length === 0) return result
    const stored = await this.o.store.getTask(claim.runId, claim.taskId)
    const model = taskSpendAfter(stored?.model, calls)
    return model === undefined ? result : { ...result, model }
  }

  private async runOf(runId: RunId): Promise<{ workflow: Workflow; input: unknown; traceParent: string | undefined }> {
    const hit = this.runs.get(runId)
    if (hit !== undefined) return hit
    const record = await this.o.store.getRun(runId)
    if (record === undefined)
      throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
    const entry = {
      workflow: compileWorkflow(record.definition as WorkflowSpec),
      input: record.input,
      traceParent: record.traceParent,
    }
    if (this.runs.size >= MAX_CACHED_RUNS) this.runs.delete(this.runs.keys().next().value!)
    this.runs.set(runId, entry)
    return entry
  }

  /** The run's input and the outputs of the task's dependencies: from memory when produced here, else from the store. */
  private async valuesFor(
    workflow: Workflow,
    i: number,
    runId: RunId,
    input: unknown,
  ): Promise<{ input: unknown; output(index: number): unknown }> {
    const deps = workflow.tasks[i].deps
    const outputs = new Map<number, unknown>()
    await Promise.all(
      Array.from(deps, async (d) => {
        const key = `${runId}\u0000${workflow.tasks[d].id}`
        if (this.outputs.has(key)) return void outputs.set(d, this.outputs.get(key))
        const rec = await this.o.store.getTask(runId, workflow.tasks[d].id as TaskId)
        if (rec?.state === 'SUCCEEDED') outputs.set(d, rec.output)
      }),
    )
    return { input, output: (index) => outputs.get(index) }
  }

  private remember(key: string, output: unknown): void {
    if (this.outputs.size >= 10_000) this.outputs.delete(this.outputs.keys().next().value!)
    this.outputs.set(key, output)
  }

  // ---- context sink ------------------------------------------------------
  log(runId: RunId, taskId: TaskId, level: LogLevel, message: string, data: unknown): void {
    const r = this.running.get(`${runId}\u0000${taskId}`)
    r?.events.push({
      type: 'task.log',
      at: this.o.clock.wallNow(),
      runId,
      taskId,
      level,
      message,
      ...(data === undefined ? {} : { data }),
    })
  }

  progress(runId: RunId, taskId: TaskId, attempt: number, fraction: number, note: string | undefined): void {
    const r = this.running.get(`${runId}\u0000${taskId}`)
    r?.events.push({ type: 'task.progress', at: this.o.clock.wallNow(), runId, taskId, attempt, fraction, note })
  }

  emit(event: RunEvent): void {
    if (!('taskId' in event)) return
    const running = this.running.get(`${event.runId}\u0000${event.taskId}`)
    if (running === undefined) return
    event.at = this.o.clock.wallNow()
    running.events.push(event)
  }

  services(instanceId: AgentId, runId: RunId, taskId: TaskId): ServiceMembers | undefined {
    return this.o.services?.(instanceId, runId, taskId)
  }

  journal(instanceId: AgentId): Journal | undefined {
    return this.o.journal?.(instanceId)
  }

  storedModelSpend(runId: RunId): Promise<StoredTaskSpend[]> {
    return storedSpendOf(this.o.store, runId)
  }
}

/**
 * A plan that reached the executor: the ChildRuns interceptor (innermost on
 * a Worker) did not turn it into a child run, so the task fails loudly
 * instead of storing the plan as its output.
 */
function childRunUnsupported(agent: string, taskId: string): FlotillaError {
  return new FlotillaError(
    'CHILD_RUN_UNSUPPORTED',
    `Task "${taskId}": agent "${agent}" returned a plan (childWorkflow), but this executor has no child runs wired in (the ChildRuns interceptor); run the workflow on an Orchestrator or a Worker.`,
    { details: { agent, taskId } },
  )
}
