/**
 * One agent process: the child forked by the `process` runtime, from start
 * to exit. It speaks the IPC protocol, settles commands, serves service
 * calls, watches the child's resident set and CPU time, and says why the
 * child stopped. It holds the commands in flight ({@link PendingCommands})
 * and the measures of the child ({@link ProcessMeter}), and answers service
 * calls with {@link answerServiceCall}. {@link ProcessHandle} puts one (or,
 * across restarts, several in turn) behind the runtime port.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { FlotillaError } from '../../core/errors.js'
import { exitError, limitExit, sleep } from '../exits.js'
import { childEnv, classifyExit, overLimit } from './child-exit.js'
import type {
  DeployRequest,
  ExecuteOptions,
  ResourceLimits,
  ResourceUsage,
  RuntimeEvent,
  RuntimeExit,
} from '../runtime.js'
import { PendingCommands, type CommandChannel } from './pending-commands.js'
import { hasProc, readProcState } from './proc-stats.js'
import { ProcessMeter, type ReportedUsage } from './process-meter.js'
import {
  checkChildMessage,
  childDeployOf,
  decodeValue,
  reviveError,
  type ChildMessage,
  type ParentMessage,
} from './protocol.js'
import { answerServiceCall } from './service-calls.js'

/** Settings of an {@link AgentProcess}, resolved by the runtime. */
export interface AgentProcessSettings {
  /** Absolute path of the child entry (`child-main.js`). */
  readonly entry: string
  readonly readyTimeoutMs: number
  readonly graceMs: number
  readonly sampleIntervalMs: number
  readonly usageIntervalMs: number
  /** The resident-set cap for a heap limit, bytes. */
  readonly rssLimitBytes: (memoryMb: number) => number
  readonly forwardStderr: boolean
}

/** What an {@link AgentProcess} reports to its owner. */
export interface AgentProcessOwner {
  /** The current limits (they change live with `scale`). */
  limits(): ResourceLimits
  /** CPU ms used by earlier processes of the same instance (restarts). */
  readonly cpuBaseMs: number
  onEvent(event: RuntimeEvent): void
  call(op: string, args: unknown): Promise<unknown>
  /** The process stopped on its own (not by {@link AgentProcess.stop}). */
  onExit(exit: RuntimeExit): void
}

const TAIL = 8192

/**
 * One forked agent process. Create it with {@link AgentProcess.start},
 * which resolves once the agent is ready and, on a failure, kills the
 * child and waits for it before rejecting with `AGENT_DEPLOY_FAILED`.
 */
export class AgentProcess {
  readonly pid: number
  /** Resolves once the child has exited and everything about it is settled. */
  readonly exited: Promise<void>
  private readonly child: ChildProcess
  /** The commands in flight. */
  private readonly commands = new PendingCommands()
  /** The resident set, CPU time, heap and storage of the child, and the watchdog that samples them. */
  private readonly meter: ProcessMeter
  private fault: RuntimeExit | undefined
  private expected = false
  private dead = false
  /** What commands reject with once the exit is settled. */
  private final: FlotillaError | undefined
  private stderrTail = ''
  private ready: { resolve(): void; reject(e: FlotillaError): void } | undefined

  private constructor(
    private readonly request: DeployRequest,
    private readonly settings: AgentProcessSettings,
    private readonly owner: AgentProcessOwner,
  ) {
    const memoryMb = owner.limits().memoryMb
    this.child = fork(settings.entry, [], {
      cwd: request.workspace,
      env: childEnv(request.env),
      execArgv: memoryMb === undefined ? [] : [`--max-old-space-size=${Math.max(8, Math.round(memoryMb))}`],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'json',
    })
    this.pid = this.child.pid ?? -1
    this.meter = new ProcessMeter(this.pid)
    this.child.stderr?.on('data', (chunk: Buffer) => {
      // The agent's own stderr, passed through as `stdio: inherit` would (option forwardStderr), not Flotilla's logging.
      // eslint-disable-next-line no-restricted-syntax
      if (settings.forwardStderr) process.stderr.write(chunk)
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-TAIL)
    })
    this.child.on('message', (raw: unknown) => this.onMessage(raw))
    this.child.on('error', () => undefined) // a send on a closed channel; the exit handler reports what matters
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => void this.onChildExit(code, signal).then(resolve)),
    )
  }

  /** Forks the child, deploys the agent in it and resolves once it is ready. */
  static async start(
    request: DeployRequest,
    settings: AgentProcessSettings,
    owner: AgentProcessOwner,
  ): Promise<AgentProcess> {
    const proc = new AgentProcess(request, settings, owner)
    try {
      await proc.deploy()
      return proc
    } catch (e) {
      await proc.kill()
      throw e
    }
  }

  /** CPU ms this process used since its agent was ready. */
  get cpuMs(): number {
    return this.meter.cpuMs
  }

  /** Commands in flight. */
  get active(): number {
    return this.commands.size
  }

  private deploy(): Promise<void> {
    const r = this.request
    const storageMb = this.owner.limits().storageMb
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          fail(
            new FlotillaError(
              'AGENT_DEPLOY_FAILED',
              `Agent "${r.name}" was not ready within ${this.settings.readyTimeoutMs} ms of starting its process; check its initialize hook.`,
              { details: { agent: r.name, timeoutMs: this.settings.readyTimeoutMs } },
            ),
          ),
        this.settings.readyTimeoutMs,
      )
      const fail = (e: FlotillaError): void => {
        clearTimeout(timer)
        this.ready = undefined
        reject(e)
      }
      this.ready = {
        resolve: () => {
          clearTimeout(timer)
          this.ready = undefined
          resolve()
        },
        reject: fail,
      }
      this.send({ type: 'deploy', request: childDeployOf(r, storageMb, this.settings.usageIntervalMs) })
    })
  }

  /** Where {@link PendingCommands.execute} sends commands. */
  private get channel(): CommandChannel {
    return { instanceId: this.request.instanceId, where: 'agent process', send: (message) => this.send(message) }
  }

  /** Runs one command in the child. */
  execute(input: unknown, options: ExecuteOptions = {}): Promise<unknown> {
    if (this.final !== undefined) return Promise.reject(this.final)
    return this.commands.execute(input, options, this.channel)
  }

  /** Resolves once no command is in flight. */
  idle(): Promise<void> {
    return this.commands.idle()
  }

  /** Sends new storage limits to the child. */
  setStorageLimit(storageMb: number | undefined): void {
    this.send({ type: 'limits', storageMb: storageMb ?? null })
  }

  /** Stops the child with SIGSTOP; resolves once it is stopped (Linux) or the signal is sent. */
  async pause(): Promise<void> {
    if (this.dead) return
    this.child.kill('SIGSTOP')
    await this.waitState((s) => s === 'T' || s === 't')
  }

  /** Lets a stopped child run again (SIGCONT). */
  async resume(): Promise<void> {
    if (this.dead) return
    this.child.kill('SIGCONT')
    await this.waitState((s) => s !== 'T' && s !== 't')
  }

  /** What the process uses now: `/proc` where there is one, else what the child last reported. */
  async usage(): Promise<ResourceUsage> {
    if (!this.dead) await this.meter.sample()
    return {
      memoryBytes: this.dead ? 0 : this.meter.rssBytes,
      heapUsedBytes: this.meter.heapUsedBytes,
      cpuMs: this.owner.cpuBaseMs + this.meter.cpuMs,
      storageBytes: this.meter.storageBytes,
      at: Date.now(),
    }
  }

  /** Stops the child on purpose: a shutdown message, then SIGKILL after the grace period. Commands in flight reject with `AGENT_TERMINATED`. */
  async stop(): Promise<void> {
    if (this.dead) return this.exited
    this.expected = true
    this.commands.rejectAll(
      new FlotillaError(
        'AGENT_TERMINATED',
        `Agent instance ${this.request.instanceId} was terminated while the command ran.`,
        { details: { instanceId: this.request.instanceId } },
      ),
    )
    this.child.kill('SIGCONT')
    try {
      this.send({ type: 'shutdown' })
    } catch {
      // the channel is already closed: SIGKILL below
    }
    let done = false
    await Promise.race([this.exited.then(() => (done = true)), sleep(this.settings.graceMs)])
    if (!done) this.child.kill('SIGKILL')
    await this.exited
  }

  /** Kills the child at once (SIGKILL) without reporting an exit; resolves once it is gone. */
  async kill(): Promise<void> {
    this.expected = true
    if (!this.dead) this.child.kill('SIGKILL')
    await this.exited
  }

  /** Sends a message to the child (nothing once the channel is closed); throws when it cannot be serialised. */
  send(message: ParentMessage): void {
    if (this.child.connected) this.child.send(message)
  }

  private async waitState(ok: (state: string) => boolean): Promise<void> {
    if (!hasProc) return
    for (let i = 0; i < 500 && !this.dead; i++) {
      const state = await readProcState(this.pid)
      if (state === undefined || ok(state)) return
      await sleep(1)
    }
  }

  /** Stops the child for a reason of ours (a limit, a malformed message): commands reject with it, the exit reports it. */
  private failWith(exit: RuntimeExit): void {
    if (this.fault !== undefined || this.expected || this.dead) return
    this.fault = exit
    this.commands.rejectAll(exitError(exit))
    this.ready?.reject(
      new FlotillaError('AGENT_DEPLOY_FAILED', `Agent "${this.request.name}" failed while starting: ${exit.reason}`, {
        details: { agent: this.request.name, ...exit.details },
      }),
    )
    this.child.kill('SIGKILL')
  }

  private onMessage(raw: unknown): void {
    const checked = checkChildMessage(raw)
    if (!checked.ok) {
      this.failWith({
        code: 'IPC_PROTOCOL_ERROR',
        reason: `Agent instance ${this.request.instanceId} sent a ${checked.reason}; the process was stopped.`,
        details: { instanceId: this.request.instanceId },
      })
      return
    }
    const m: ChildMessage = checked.message
    switch (m.type) {
      case 'result':
        this.commands.settle(m.id, decodeValue(m.output), undefined)
        return
      case 'error':
        this.commands.settle(m.id, undefined, reviveError(m.error))
        return
      case 'call':
        answerServiceCall(
          (op, args) => this.owner.call(op, args),
          (reply) => this.send(reply),
          m.id,
          m.op,
          decodeValue(m.args),
        )
        return
      case 'event':
        this.owner.onEvent(m.event)
        return
      case 'usage':
        this.meter.onUsage(m)
        return
      case 'ready':
        void this.onReady(m)
        return
      case 'deploy-failed':
        this.ready?.reject(reviveError(m.error))
        return
      case 'limit': {
        const error = reviveError(m.error)
        this.failWith(limitExit('storage', error.message, { ...error.details, instanceId: this.request.instanceId }))
        return
      }
      case 'protocol-error':
        this.failWith({
          code: 'IPC_PROTOCOL_ERROR',
          reason: `The agent process of ${this.request.instanceId} received a ${m.reason}.`,
          details: { instanceId: this.request.instanceId },
        })
    }
  }

  /** The child reported ready: CPU time counts from now, the watchdog starts, and so does the agent. */
  private async onReady(m: ReportedUsage): Promise<void> {
    await this.meter.onReady(m)
    this.meter.watch(this.settings.sampleIntervalMs, () => this.checkLimits())
    this.ready?.resolve()
  }

  /** The watchdog's check: enforces the resident-set cap and the CPU-time limit. */
  private checkLimits(): void {
    const over = overLimit(
      this.request.instanceId,
      this.owner.limits(),
      this.meter.rssBytes,
      this.owner.cpuBaseMs + this.meter.cpuMs,
      this.settings.rssLimitBytes,
    )
    if (over !== undefined) this.failWith(over)
  }

  private async onChildExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.dead = true
    this.meter.stop()
    const stderr = this.child.stderr
    if (stderr && !stderr.readableEnded) await Promise.race([new Promise((r) => stderr.once('end', r)), sleep(200)])
    const exit =
      this.fault ??
      classifyExit({
        instanceId: this.request.instanceId,
        pid: this.pid,
        code,
        signal,
        stderrTail: this.stderrTail,
        memoryMb: this.owner.limits().memoryMb,
        heapUsedBytes: this.meter.heapUsedBytes,
        rssBytes: this.meter.rssBytes,
      })
    const error = this.expected
      ? new FlotillaError(
          'AGENT_TERMINATED',
          `Agent instance ${this.request.instanceId} was terminated while the command ran.`,
          { details: { instanceId: this.request.instanceId } },
        )
      : exitError(exit)
    this.final = error
    this.commands.rejectAll(error)
    if (this.ready !== undefined) {
      this.ready.reject(
        new FlotillaError(
          'AGENT_DEPLOY_FAILED',
          `The process of agent "${this.request.name}" stopped before it was ready: ${exit.reason}`,
          { details: { agent: this.request.name, ...exit.details } },
        ),
      )
    } else if (!this.expected) {
      this.owner.onExit(exit)
    }
    this.commands.wakeIdle()
  }
}
