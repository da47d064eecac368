/**
 * The `process` runtime: each agent instance is a child process running the
 * agent runner, spoken to over the typed IPC protocol of `protocol.ts`.
 */
import { HookRelay } from '../hook-relay.js'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { FlotillaError } from '../../core/errors.js'
import type { BusEvent } from '../../messaging/bus.js'
import { assertAlive, refusalOf, RuntimeHandles, terminatedError } from '../exits.js'
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
import { AgentProcess, type AgentProcessOwner, type AgentProcessSettings } from './agent-process.js'

const MB = 1024 * 1024

/** Options of {@link ProcessRuntime}. */
export interface ProcessRuntimeOptions {
  /** The child entry script. @default `child-main.js` next to this module (in `dist/runtimes/process/`) */
  entry?: string
  /** Longest wait for a new process to load its agent and run `initialize`. @default 10000 */
  readyTimeoutMs?: number
  /** Time a process gets to exit after the shutdown message before SIGKILL. @default 1000 */
  terminateGraceMs?: number
  /** How often the watchdog reads `/proc` for the resident set and CPU time. @default 100 */
  sampleIntervalMs?: number
  /** How often a child reports its heap, CPU and storage. @default 250 */
  usageIntervalMs?: number
  /** The resident-set cap is `memoryMb × rssFactor + rssBaseMb` megabytes. @default 1.5 */
  rssFactor?: number
  /** See `rssFactor`. @default 96 */
  rssBaseMb?: number
  /** Copy the children's stderr to this process's stderr (it is always scanned for heap exhaustion). @default true */
  forwardStderr?: boolean
}

function defaultEntry(): string {
  return fileURLToPath(new URL('./child-main.js', import.meta.url))
}

/**
 * A runtime that runs each agent instance in its own Node.js process.
 *
 * Limits: `memoryMb` sets the child's V8 heap (`--max-old-space-size`) and,
 * on Linux, a watchdog kills the child when its resident set goes over
 * `memoryMb × 1.5 + 96` MB (buffers and native memory are outside the heap);
 * `cpuMs` is the CPU time (user + system, from `/proc/<pid>/stat`, else as
 * the child reports it) used since the agent was ready; `storageMb` is
 * enforced by the workspace in the child. Going over one of them kills the
 * child and reports `RESOURCE_LIMIT_EXCEEDED` through `hooks.onExit`.
 *
 * @example
 * ```ts
 * const runtime = new ProcessRuntime()
 * const handle = await runtime.deploy({ instanceId: 'agt_1', name: 'echo', module: '/srv/echo.mjs', exportName: 'default', tools: [], permissions: [], limits: { memoryMb: 128 }, env: {}, workspace: '/tmp/agt_1' }, hooks)
 * await handle.execute({ text: 'hi' })
 * await runtime.close()
 * ```
 */
export class ProcessRuntime implements Runtime {
  readonly kind = 'process'
  private readonly settings: AgentProcessSettings
  private readonly handles = new RuntimeHandles<ProcessHandle>()

  constructor(options: ProcessRuntimeOptions = {}) {
    const factor = options.rssFactor ?? 1.5
    const base = options.rssBaseMb ?? 96
    this.settings = {
      entry: options.entry ?? defaultEntry(),
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      graceMs: options.terminateGraceMs ?? 1_000,
      sampleIntervalMs: options.sampleIntervalMs ?? 100,
      usageIntervalMs: options.usageIntervalMs ?? 250,
      rssLimitBytes: (memoryMb) => Math.round((memoryMb * factor + base) * MB),
      forwardStderr: options.forwardStderr ?? true,
    }
  }

  async deploy(request: DeployRequest, hooks: RuntimeHooks): Promise<RuntimeHandle> {
    if (!existsSync(this.settings.entry)) {
      throw new FlotillaError(
        'AGENT_DEPLOY_FAILED',
        `The process runtime's child entry ${this.settings.entry} does not exist: build the package (npm run build) or pass { entry } to ProcessRuntime.`,
        {
          details: { entry: this.settings.entry },
        },
      )
    }
    try {
      await mkdir(request.workspace, { recursive: true })
    } catch (e) {
      throw new FlotillaError(
        'AGENT_DEPLOY_FAILED',
        `Cannot create the workspace ${request.workspace} of agent "${request.name}": ${(e as Error).message}`,
        { cause: e, details: { workspace: request.workspace } },
      )
    }
    return this.handles.start((forget) => new ProcessHandle(request, hooks, this.settings, forget))
  }

  async close(): Promise<void> {
    await this.handles.terminateAll('the runtime was closed')
  }
}

/**
 * One instance of the process runtime: the current agent process, and the
 * instance's state across pauses, limit changes and restarts.
 */
class ProcessHandle implements RuntimeHandle, AgentProcessOwner {
  readonly instanceId: string
  cpuBaseMs = 0
  private proc: AgentProcess | undefined
  private current: ResourceLimits
  private paused = false
  private exit: RuntimeExit | undefined
  private terminated = false
  private terminating: Promise<void> | undefined
  private gate: Promise<void> | undefined
  private readonly relay: HookRelay

  constructor(
    private readonly request: DeployRequest,
    hooks: RuntimeHooks,
    private readonly settings: AgentProcessSettings,
    private readonly forget: () => void,
  ) {
    this.instanceId = request.instanceId
    this.current = { ...request.limits }
    this.relay = new HookRelay(hooks, request.name, 'agent process')
  }

  async start(): Promise<void> {
    this.proc = await AgentProcess.start(this.request, this.settings, this)
  }

  get pid(): number | undefined {
    return this.proc?.pid
  }

  limits(): ResourceLimits {
    return this.current
  }

  onEvent(event: Parameters<RuntimeHooks['onEvent']>[0]): void {
    this.relay.onEvent(event)
  }

  call(op: string, args: unknown): Promise<unknown> {
    return this.relay.call(op, args)
  }

  deliver(subscriptionId: string, event: BusEvent): void {
    if (this.refusal() !== undefined) return
    this.relay.deliver(subscriptionId, event, (m) => this.proc?.send(m))
  }

  onExit(exit: RuntimeExit): void {
    if (this.exit !== undefined || this.terminated) return
    this.exit = exit
    this.forget()
    this.relay.exit(exit)
  }

  execute(input: unknown, options?: ExecuteOptions): Promise<unknown> {
    if (this.gate !== undefined) return this.gate.then(() => this.execute(input, options))
    const refused = this.refusal()
    if (refused !== undefined || this.proc === undefined)
      return Promise.reject(refused ?? terminatedError(this.instanceId))
    return this.proc.execute(input, options)
  }

  async pause(): Promise<void> {
    await this.gate
    this.assertAlive('pause')
    if (this.paused) return
    this.paused = true
    await this.proc?.pause()
  }

  async resume(): Promise<void> {
    await this.gate
    this.assertAlive('resume')
    if (!this.paused) return
    this.paused = false
    await this.proc?.resume()
  }

  async scale(limits: ResourceLimits): Promise<void> {
    await this.gate
    this.assertAlive('scale')
    const before = this.current
    this.current = { ...limits }
    if (limits.storageMb !== before.storageMb) this.proc?.setStorageLimit(limits.storageMb)
    if (limits.memoryMb !== before.memoryMb) {
      this.gate = this.restart(limits.memoryMb)
      try {
        await this.gate
      } finally {
        this.gate = undefined
      }
    }
  }

  async usage(): Promise<ResourceUsage> {
    if (this.proc === undefined)
      return { memoryBytes: 0, heapUsedBytes: 0, cpuMs: this.cpuBaseMs, storageBytes: 0, at: Date.now() }
    return this.proc.usage()
  }

  terminate(_reason?: string): Promise<void> {
    this.terminating ??= (async () => {
      this.terminated = true
      this.forget()
      await this.gate?.catch(() => undefined)
      await this.proc?.stop()
    })()
    return this.terminating
  }

  /** Replaces the process with one started with the new heap size, once no command is in flight. */
  private async restart(memoryMb: number | undefined): Promise<void> {
    const old = this.proc
    if (old === undefined) return
    await old.idle()
    await old.stop()
    this.relay.dropSubscriptions()
    this.cpuBaseMs += old.cpuMs
    if (this.terminated) return
    try {
      this.proc = await AgentProcess.start(this.request, this.settings, this)
      if (this.paused) await this.proc.pause()
    } catch (e) {
      this.proc = undefined
      const reason = `Restarting agent instance ${this.instanceId} with memoryMb ${memoryMb ?? 'unlimited'} failed: ${(e as Error).message}`
      this.onExit({
        code: 'AGENT_CRASHED',
        reason,
        details: { instanceId: this.instanceId, memoryMb: memoryMb ?? null },
      })
      throw new FlotillaError('AGENT_DEPLOY_FAILED', reason, { cause: e, details: { instanceId: this.instanceId } })
    }
  }

  private refusal(): FlotillaError | undefined {
    return refusalOf(this.instanceId, this.terminated, this.exit)
  }

  private assertAlive(what: string): void {
    assertAlive(this.instanceId, this.refusal(), what)
  }
}
