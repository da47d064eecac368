/**
 * One agent pod, from creation to deletion: the Kubernetes counterpart of
 * the `process` runtime's `AgentProcess`. It creates the pod, watches it
 * (phases and container states become a {@link RuntimeExit} with a code),
 * speaks the runtime protocol with the agent runner in it over HTTP
 * ({@link PodChannel}), settles commands, serves service calls, enforces
 * `cpuMs` from the runner's usage reports, and deletes the pod whenever it
 * stops, so that no pod is left behind.
 */
import { randomBytes } from 'node:crypto'
import type { V1Pod } from '@kubernetes/client-node'
import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import { exitError, limitExit, sleep } from '../exits.js'
import { overLimit } from '../process/child-exit.js'
import { PendingCommands, type CommandChannel } from '../process/pending-commands.js'
import {
  checkChildMessage,
  childDeployOf,
  decodeValue,
  reviveError,
  type ChildMessage,
  type ParentMessage,
} from '../process/protocol.js'
import { answerServiceCall } from '../process/service-calls.js'
import type { DeployRequest, ExecuteOptions, ResourceUsage, RuntimeExit } from '../runtime.js'
import type { AgentProcessOwner } from '../process/agent-process.js'
import { PodChannel } from './pod-channel.js'
import { PodWatcher } from './pod-watcher.js'
import { agentPod, type PodRef, type PodSettings } from './pod-spec.js'
import { viewPod } from './pod-status.js'
import type { KubeApi } from './kube-api.js'

/** Settings of a {@link PodAgent}, resolved by the runtime. */
export interface PodAgentSettings {
  readonly api: KubeApi
  readonly pod: PodSettings
  /** The workspace path sent to the runner for a request (under the pod's workspace mount). */
  readonly workspaceOf: (request: DeployRequest) => string
  /** The module path inside the pod for a path the orchestrator sees. */
  readonly modulePath: (path: string) => string
  /** The base URL of the runner in a running pod. */
  readonly address: (pod: V1Pod, ip: string, port: number) => string
  readonly readyTimeoutMs: number
  readonly usageIntervalMs: number
  readonly reconnectMs: number
  readonly silenceMs: number
  readonly watchRetryMs: number
  readonly labels: Readonly<Record<string, string>>
  /** Told of each pod deletion in progress, so that closing the runtime waits for them. */
  readonly track: (deletion: Promise<void>) => void
}

/** One agent pod; create it with {@link PodAgent.start}. */
export class PodAgent {
  readonly name: string
  uid = ''
  private readonly commands = new PendingCommands()
  private readonly token = randomBytes(24).toString('base64url')
  private channel: PodChannel | undefined
  private watcher: PodWatcher | undefined
  private ready: { resolve(): void; reject(e: FlotillaError): void } | undefined
  private fault: RuntimeExit | undefined
  private expected = false
  private final: FlotillaError | undefined
  private gone: Promise<void> | undefined
  private cpuAtReady = 0
  private started = false
  private reported = { heapUsedBytes: 0, rssBytes: 0, cpuMs: 0, storageBytes: 0 }
  private readonly deleted: Promise<void>
  private markDeleted!: () => void

  private constructor(
    private readonly request: DeployRequest,
    private readonly s: PodAgentSettings,
    private readonly owner: AgentProcessOwner,
    private readonly parent: PodRef | undefined,
  ) {
    this.name = agentPod(request, '', s.pod, parent).metadata?.name ?? request.instanceId
    this.deleted = new Promise((resolve) => (this.markDeleted = resolve))
  }

  /** Creates the pod, waits for it to run, deploys the agent in it; on a failure deletes the pod before rejecting. */
  static async start(
    request: DeployRequest,
    s: PodAgentSettings,
    owner: AgentProcessOwner,
    parent: PodRef | undefined,
  ): Promise<PodAgent> {
    const agent = new PodAgent(request, s, owner, parent)
    try {
      await agent.deploy()
      return agent
    } catch (e) {
      agent.expected = true
      await agent.remove()
      throw isFlotillaError(e) && e.code !== 'AGENT_CRASHED'
        ? e
        : new FlotillaError(
            'AGENT_DEPLOY_FAILED',
            `Agent "${request.name}" could not be started in pod ${agent.name}: ${(e as Error).message}`,
            {
              cause: e,
              details: { agent: request.name, pod: agent.name, ...(isFlotillaError(e) ? e.details : {}) },
            },
          )
    }
  }

  /** CPU ms used since the agent was ready (as the runner reports it). */
  get cpuMs(): number {
    return Math.max(0, this.reported.cpuMs - this.cpuAtReady)
  }

  /** Whether the agent has stopped (its pod is being deleted, or gone). */
  get stopped(): boolean {
    return this.final !== undefined
  }

  /** Commands in flight. */
  get active(): number {
    return this.commands.size
  }

  private async deploy(): Promise<void> {
    const r = this.request
    const body = agentPod({ ...r, limits: this.owner.limits() }, this.token, this.s.pod, this.parent, this.s.labels)
    const created = await this.s.api.createPod(this.s.pod.namespace, body)
    this.uid = created.metadata?.uid ?? ''
    const running = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new FlotillaError(
              'AGENT_DEPLOY_FAILED',
              `Pod ${this.name} of agent "${r.name}" was not running within ${this.s.readyTimeoutMs} ms (${this.watcher?.lastWhy ?? 'no status yet'}); check the events of the pod (kubectl describe pod ${this.name}).`,
              { details: { agent: r.name, pod: this.name, timeoutMs: this.s.readyTimeoutMs } },
            ),
          ),
        this.s.readyTimeoutMs,
      )
      this.watcher = new PodWatcher(this.s.api, this.s.pod.namespace, this.name, this.s.watchRetryMs, {
        memoryMb: () => this.owner.limits().memoryMb,
        onRunning: (pod, ip) => {
          clearTimeout(timer)
          resolve(this.s.address(pod, ip, this.s.pod.port))
        },
        onStopped: (exit) => {
          clearTimeout(timer)
          reject(exitError(exit))
          this.failWith(exit)
        },
        onDeleted: () => this.markDeleted(),
        onLost: (error) => {
          clearTimeout(timer)
          reject(error)
          this.failWith({ code: error.code, reason: error.message, details: { pod: this.name, ...error.details } })
        },
        onEvent: (event) => this.owner.onEvent(event),
      })
    })
    running.catch(() => undefined)
    await this.watcher?.start(created.metadata?.resourceVersion)
    const base = await running
    this.channel = new PodChannel({
      base,
      token: this.token,
      onMessage: (raw) => this.onMessage(raw),
      onLost: (reason) => void this.onChannelLost(reason),
      reconnectMs: this.s.reconnectMs,
      silenceMs: this.s.silenceMs,
    })
    await this.channel.open()
    const workspace = this.s.workspaceOf(r)
    const request = {
      ...r,
      module: r.module === '' ? '' : this.s.modulePath(r.module),
      ...(r.toolsModule === undefined ? {} : { toolsModule: this.s.modulePath(r.toolsModule) }),
      workspace,
    }
    await new Promise<void>((resolve, reject) => {
      this.ready = { resolve, reject }
      this.send({
        type: 'deploy',
        request: childDeployOf(request, this.owner.limits().storageMb, this.s.usageIntervalMs),
      })
    })
    this.started = true
  }

  /** Where {@link PendingCommands.execute} sends commands. */
  private get commandChannel(): CommandChannel {
    return { instanceId: this.request.instanceId, where: 'agent pod', send: (message) => this.send(message) }
  }

  /** Runs one command in the pod. */
  execute(input: unknown, options: ExecuteOptions = {}): Promise<unknown> {
    if (this.final !== undefined) return Promise.reject(this.final)
    return this.commands.execute(input, options, this.commandChannel)
  }

  /** Resolves once no command is in flight. */
  idle(): Promise<void> {
    return this.commands.idle()
  }

  /** Sends a new storage limit to the runner; checks a new CPU limit against the last report. */
  applyLimits(): void {
    this.send({ type: 'limits', storageMb: this.owner.limits().storageMb ?? null })
    this.checkCpu()
  }

  /** What the pod uses, as its runner last reported it. */
  usage(): ResourceUsage {
    return {
      memoryBytes: this.final === undefined ? this.reported.rssBytes : 0,
      heapUsedBytes: this.reported.heapUsedBytes,
      cpuMs: this.owner.cpuBaseMs + this.cpuMs,
      storageBytes: this.reported.storageBytes,
      at: Date.now(),
    }
  }

  /** Stops the agent on purpose: commands in flight reject with `AGENT_TERMINATED`, then the pod is deleted. */
  async stop(): Promise<void> {
    this.expected = true
    const error = new FlotillaError(
      'AGENT_TERMINATED',
      `Agent instance ${this.request.instanceId} was terminated while the command ran.`,
      { details: { instanceId: this.request.instanceId } },
    )
    this.final ??= error
    this.commands.rejectAll(error)
    try {
      this.send({ type: 'shutdown' })
    } catch {
      // nothing to do: the pod is deleted below
    }
    await this.remove()
  }

  /** Sends a message to the runner (nothing once the channel is closed). */
  send(message: ParentMessage): void {
    this.channel?.send(message)
  }

  /** Deletes the pod (once) and waits until the API server reports it gone, or the grace period and a little more. */
  private remove(): Promise<void> {
    if (this.gone !== undefined) return this.gone
    this.gone = (async () => {
      this.channel?.close()
      try {
        await this.s.api.deletePod(this.s.pod.namespace, this.name, this.s.pod.terminationGraceSeconds)
      } catch (e) {
        this.owner.onEvent({
          type: 'log',
          data: {
            agent: this.request.name,
            level: 'error',
            message: `Pod ${this.name} could not be deleted; delete it by hand (kubectl delete pod ${this.name}): ${(e as Error).message}`,
          },
        })
        this.watcher?.stop()
        return
      }
      if (this.watcher?.watching === true)
        await Promise.race([this.deleted, sleep(this.s.pod.terminationGraceSeconds * 1000 + 5000)])
      this.watcher?.stop()
    })()
    this.s.track(this.gone)
    return this.gone
  }

  /** Stops the agent for a reason (a pod status, a limit, a malformed message): commands reject with it, the pod is deleted, the exit is reported. */
  private failWith(exit: RuntimeExit): void {
    if (this.fault !== undefined || this.expected) return
    this.fault = exit
    this.final = exitError(exit)
    this.commands.rejectAll(this.final)
    const starting = this.ready
    this.ready = undefined
    starting?.reject(
      new FlotillaError(
        exit.code === 'AGENT_CRASHED' ? 'AGENT_DEPLOY_FAILED' : exit.code,
        `Agent "${this.request.name}" failed while starting: ${exit.reason}`,
        { details: { agent: this.request.name, ...exit.details } },
      ),
    )
    void this.remove()
    if (this.started) this.owner.onExit(exit)
  }

  /** The channel to the runner is lost: the pod's status says why when it can be read, else it is a crash. */
  private async onChannelLost(reason: string): Promise<void> {
    if (this.expected || this.fault !== undefined) return
    for (let i = 0; i < 20 && this.fault === undefined; i++) {
      const pod = await this.s.api.readPod(this.s.pod.namespace, this.name).catch(() => undefined)
      const view = pod === undefined ? undefined : viewPod(pod, this.owner.limits().memoryMb)
      if (view?.kind === 'stopped') return this.failWith(view.exit)
      await sleep(100)
    }
    this.failWith({
      code: 'AGENT_CRASHED',
      reason: `Lost contact with the agent in pod ${this.name}: ${reason}.`,
      details: { pod: this.name, instanceId: this.request.instanceId },
    })
  }

  private checkCpu(): void {
    const over = overLimit(
      this.request.instanceId,
      { ...(this.owner.limits().cpuMs === undefined ? {} : { cpuMs: this.owner.limits().cpuMs }) },
      0,
      this.owner.cpuBaseMs + this.cpuMs,
      () => Number.POSITIVE_INFINITY,
    )
    if (over !== undefined)
      this.failWith({ ...over, reason: over.reason.replace('the process was killed', 'the pod was deleted') })
  }

  private onMessage(raw: unknown): void {
    const checked = checkChildMessage(raw)
    if (!checked.ok) {
      this.failWith({
        code: 'IPC_PROTOCOL_ERROR',
        reason: `The agent in pod ${this.name} sent a ${checked.reason}; the pod was deleted.`,
        details: { instanceId: this.request.instanceId, pod: this.name },
      })
      return
    }
    const m: ChildMessage = checked.message
    switch (m.type) {
      case 'result':
        return this.commands.settle(m.id, decodeValue(m.output), undefined)
      case 'error':
        return this.commands.settle(m.id, undefined, reviveError(m.error))
      case 'call':
        return answerServiceCall(
          (op, args) => this.owner.call(op, args),
          (reply) => this.send(reply),
          m.id,
          m.op,
          decodeValue(m.args),
        )
      case 'event':
        return this.owner.onEvent(m.event)
      case 'usage':
        this.reported = {
          heapUsedBytes: m.heapUsedBytes,
          rssBytes: m.rssBytes,
          cpuMs: m.cpuMs,
          storageBytes: m.storageBytes,
        }
        return this.checkCpu()
      case 'ready': {
        this.reported = {
          heapUsedBytes: m.heapUsedBytes,
          rssBytes: m.rssBytes,
          cpuMs: m.cpuMs,
          storageBytes: m.storageBytes,
        }
        this.cpuAtReady = m.cpuMs
        const starting = this.ready
        this.ready = undefined
        return starting?.resolve()
      }
      case 'deploy-failed': {
        const starting = this.ready
        this.ready = undefined
        return starting?.reject(reviveError(m.error))
      }
      case 'limit': {
        const error = reviveError(m.error)
        return this.failWith(
          limitExit('storage', error.message, { ...error.details, instanceId: this.request.instanceId }),
        )
      }
      case 'protocol-error':
        return this.failWith({
          code: 'IPC_PROTOCOL_ERROR',
          reason: `The agent in pod ${this.name} received a ${m.reason}.`,
          details: { instanceId: this.request.instanceId, pod: this.name },
        })
    }
  }
}
