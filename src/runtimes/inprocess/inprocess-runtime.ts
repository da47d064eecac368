/**
 * The `inprocess` runtime: the agent runner runs in the orchestrator's own
 * process. Cheapest (no process, no IPC), least isolated.
 */
import type { FlotillaError } from '../../core/errors.js'
import { AgentRunner } from '../../agents/runner.js'
import type { BusEvent } from '../../messaging/bus.js'
import {
  abortReason,
  assertAlive,
  exitError,
  limitExit,
  refusalOf,
  RuntimeHandles,
  terminatedError,
  timeoutError,
} from '../exits.js'
import type {
  DeployRequest,
  ExecuteOptions,
  ResourceLimits,
  ResourceUsage,
  Runtime,
  RuntimeExit,
  RuntimeHandle,
  RuntimeHooks,
} from '../runtime.js'

/** Options of {@link InProcessRuntime}. */
export interface InProcessRuntimeOptions {
  /** How often the CPU-time limit is checked while commands run, ms. @default 20 */
  cpuCheckIntervalMs?: number
}

/**
 * A runtime that runs agents in this process, through the same
 * {@link AgentRunner} the `process` runtime runs in its children, so an
 * agent behaves the same in both.
 *
 * What it can and cannot do, in-process:
 * - `storageMb` is enforced by the workspace, as in the `process` runtime.
 * - `cpuMs` counts the time spent in the agent's handlers (wall-clock from
 *   start to settle of each command, overlapping commands each counted),
 *   checked every `cpuCheckIntervalMs` while commands run and when each one
 *   ends; over it, the instance stops with `RESOURCE_LIMIT_EXCEEDED`. A
 *   handler that blocks the event loop cannot be interrupted: it is stopped
 *   once it yields.
 * - `memoryMb` cannot be enforced (the heap is shared); usage reports
 *   `memoryBytes` and `heapUsedBytes` as 0 (unknown).
 * - `pause` holds new commands until `resume` (commands already running go
 *   on); `scale` applies every limit at once, no restart needed.
 * - the spec's `env` is not applied: agents see this process's environment.
 *
 * @example
 * ```ts
 * const runtime = new InProcessRuntime()
 * const handle = await runtime.deploy(request, { onExit: console.error, onEvent: () => {}, call: serve })
 * await handle.execute({ text: 'hi' })
 * ```
 */
export class InProcessRuntime implements Runtime {
  readonly kind = 'inprocess'
  private readonly handles = new RuntimeHandles<InProcessHandle>()
  private readonly cpuCheckIntervalMs: number

  constructor(options: InProcessRuntimeOptions = {}) {
    this.cpuCheckIntervalMs = options.cpuCheckIntervalMs ?? 20
  }

  async deploy(request: DeployRequest, hooks: RuntimeHooks): Promise<RuntimeHandle> {
    return this.handles.start((forget) => new InProcessHandle(request, hooks, this.cpuCheckIntervalMs, forget))
  }

  async close(): Promise<void> {
    await this.handles.terminateAll('the runtime was closed')
  }
}

interface Held {
  resolve(): void
  reject(error: FlotillaError): void
}

class InProcessHandle implements RuntimeHandle {
  readonly instanceId: string
  readonly pid = undefined
  private runner: AgentRunner | undefined
  private limits: ResourceLimits
  private exit: RuntimeExit | undefined
  private terminated = false
  private paused = false
  private held: Held[] = []
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly request: DeployRequest,
    private readonly hooks: RuntimeHooks,
    private readonly checkEveryMs: number,
    private readonly forget: () => void,
  ) {
    this.instanceId = request.instanceId
    this.limits = { ...request.limits }
  }

  async start(): Promise<void> {
    const r = this.request
    this.runner = await AgentRunner.start({
      instanceId: r.instanceId,
      name: r.name,
      module: r.module,
      ...(r.model === undefined ? {} : { model: r.model }),
      exportName: r.exportName,
      tools: r.tools,
      toolsModule: r.toolsModule,
      permissions: r.permissions,
      limits: { storageMb: r.limits.storageMb },
      workspace: r.workspace,
      hooks: { onEvent: (e) => this.hooks.onEvent(e), call: (op, args) => this.hooks.call(op, args) },
      onLimitExceeded: (error) =>
        this.fail(limitExit('storage', error.message, { ...error.details, instanceId: this.instanceId })),
    })
  }

  async execute(input: unknown, options: ExecuteOptions = {}): Promise<unknown> {
    const startedAt = performance.now()
    if (this.paused) await this.hold(options)
    const runner = this.runner
    const refused = this.refusal()
    if (refused !== undefined || runner === undefined) throw refused ?? terminatedError(this.instanceId)
    let timeoutMs = options.timeoutMs
    if (timeoutMs !== undefined) {
      timeoutMs -= performance.now() - startedAt // time held while paused counts
      if (timeoutMs <= 0) throw timeoutError(this.instanceId, options.timeoutMs ?? 0)
    }
    this.watchCpu()
    try {
      return await runner.execute(input, { ...options, timeoutMs })
    } finally {
      this.checkCpu()
    }
  }

  async pause(): Promise<void> {
    this.assertAlive('pause')
    this.paused = true
  }

  async resume(): Promise<void> {
    this.assertAlive('resume')
    this.paused = false
    for (const h of this.held.splice(0)) h.resolve()
  }

  async scale(limits: ResourceLimits): Promise<void> {
    this.assertAlive('scale')
    this.limits = { ...limits }
    this.runner?.setStorageLimit(limits.storageMb)
    this.checkCpu()
  }

  async usage(): Promise<ResourceUsage> {
    return {
      memoryBytes: 0,
      heapUsedBytes: 0,
      cpuMs: this.runner?.handlerMs ?? 0,
      storageBytes: this.runner?.workspace.usedBytes ?? 0,
      at: Date.now(),
    }
  }

  async terminate(_reason?: string): Promise<void> {
    if (this.terminated) return
    this.terminated = true
    this.stopTimer()
    this.forget()
    const error = terminatedError(this.instanceId)
    this.runner?.stop(error)
    for (const h of this.held.splice(0)) h.reject(error)
  }

  deliver(subscriptionId: string, event: BusEvent): void {
    if (this.refusal() === undefined) this.runner?.deliver(subscriptionId, event)
  }

  /** Waits while paused; an abort or the end of the instance ends the wait. */
  private hold(options: ExecuteOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = options.signal
      const onAbort = (): void => {
        this.held = this.held.filter((h) => h !== entry)
        reject(abortReason(signal?.reason))
      }
      const entry: Held = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort)
          reject(e)
        },
      }
      if (signal?.aborted) return reject(abortReason(signal.reason))
      signal?.addEventListener('abort', onAbort, { once: true })
      this.held.push(entry)
    })
  }

  /** Stops the instance on its own (a limit): commands reject with the exit's error, the exit is reported once. */
  private fail(exit: RuntimeExit): void {
    if (this.exit !== undefined || this.terminated) return
    this.exit = exit
    this.stopTimer()
    this.forget()
    const error = exitError(exit)
    this.runner?.stop(error)
    for (const h of this.held.splice(0)) h.reject(error)
    try {
      this.hooks.onExit(exit)
    } catch {
      // a failing observer must not break the runtime
    }
  }

  private watchCpu(): void {
    if (this.timer !== undefined || this.limits.cpuMs === undefined) return
    this.timer = setInterval(() => this.checkCpu(), this.checkEveryMs)
    this.timer.unref()
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private checkCpu(): void {
    const runner = this.runner
    if (runner === undefined || this.exit !== undefined || this.terminated) return
    if (runner.activeCommands === 0) this.stopTimer()
    const limit = this.limits.cpuMs
    const used = runner.handlerMs
    if (limit !== undefined && used > limit) {
      this.fail(
        limitExit(
          'cpu',
          `Agent instance ${this.instanceId} spent ${Math.round(used)} ms in its handlers, over its CPU-time limit of ${limit} ms; it was stopped.`,
          {
            instanceId: this.instanceId,
            cpuMs: Math.round(used),
            cpuLimitMs: limit,
          },
        ),
      )
    }
  }

  private refusal(): FlotillaError | undefined {
    return refusalOf(this.instanceId, this.terminated, this.exit)
  }

  private assertAlive(what: string): void {
    assertAlive(this.instanceId, this.refusal(), what)
  }
}
