/**
 * The `kubernetes` runtime: each agent instance is a Pod running the agent
 * runner in its HTTP mode (`flotilla agent run --http <port>`), created,
 * watched and deleted through the Kubernetes API, and spoken to over HTTP
 * with the messages of the runtime protocol.
 */
import { HookRelay } from '../hook-relay.js'
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
import { clientNodeApi, type KubeApi } from './kube-api.js'
import { PodAgent, type PodAgentSettings } from './pod-agent.js'
import { PodMetricsReader } from './pod-metrics.js'
import type { PodRef } from './pod-spec.js'
import { resolveSettings, type KubernetesRuntimeOptions } from './settings.js'

/**
 * A runtime that runs each agent instance in its own Pod.
 *
 * Limits: `memoryMb` sets the container's memory request and limit
 * (`memoryMb × 1.5 + 96` Mi, like the `process` runtime's resident-set cap)
 * and the runner's heap (`NODE_OPTIONS=--max-old-space-size`); the kernel
 * enforces it (OOMKilled is `RESOURCE_LIMIT_EXCEEDED`). `cpuMs` is checked
 * against the CPU time the runner reports; `storageMb` by the runner's
 * workspace (and the workspace volume's `sizeLimit`). A child's pod is
 * owned by its parent's pod (`ownerReferences`), so deleting a parent pod
 * deletes the subtree in the cluster too. `pause` holds new commands in the
 * orchestrator (the pod keeps running); `resume` lets them go.
 *
 * @example
 * ```ts
 * const runtime = new KubernetesRuntime({ namespace: 'agents', image: 'ghcr.io/acme/flotilla-agents:1.4.0' })
 * const orchestrator = new Orchestrator({ runtimes: [runtime], defaultRuntime: 'kubernetes' })
 * ```
 */
export class KubernetesRuntime implements Runtime {
  readonly kind = 'kubernetes'
  private readonly settings: PodAgentSettings
  private readonly handles = new RuntimeHandles<KubernetesHandle>()
  /** The live instances, by instance id: a child's pod is owned by its parent's. */
  private readonly live = new Map<string, KubernetesHandle>()
  private readonly owner: PodRef | undefined
  /** Pod deletions in progress (of instances that stopped on their own too). */
  private readonly deletions = new Set<Promise<void>>()
  private readonly metrics: PodMetricsReader

  constructor(options: KubernetesRuntimeOptions = {}) {
    const api: KubeApi = options.api ?? clientNodeApi(options.cluster)
    const resolved = resolveSettings(options, api)
    this.settings = {
      ...resolved.settings,
      track: (deletion) => {
        this.deletions.add(deletion)
        void deletion.finally(() => this.deletions.delete(deletion))
      },
    }
    this.owner = resolved.owner
    this.metrics = new PodMetricsReader(api, this.settings.pod.namespace, options.metricsIntervalMs ?? 15_000)
  }

  /** The namespace agent pods are created in. */
  get namespace(): string {
    return this.settings.pod.namespace
  }

  async deploy(request: DeployRequest, hooks: RuntimeHooks): Promise<RuntimeHandle> {
    const parent = request.parentId === undefined ? this.owner : (this.live.get(request.parentId)?.pod ?? this.owner)
    const handle = await this.handles.start(
      (forget) =>
        new KubernetesHandle(request, hooks, this.settings, this.metrics, parent, () => {
          forget()
          this.live.delete(request.instanceId)
        }),
    )
    this.live.set(request.instanceId, handle)
    return handle
  }

  async close(): Promise<void> {
    await this.handles.terminateAll('the runtime was closed')
    await Promise.all(this.deletions)
  }
}

/** One instance of the kubernetes runtime: the current pod, and the instance's state across pauses and pod replacements. */
class KubernetesHandle implements RuntimeHandle {
  readonly instanceId: string
  readonly pid = undefined
  cpuBaseMs = 0
  private agent: PodAgent | undefined
  private current: ResourceLimits
  private paused: { promise: Promise<void>; release(): void } | undefined
  private exit: RuntimeExit | undefined
  private terminated = false
  private terminating: Promise<void> | undefined
  private gate: Promise<void> | undefined
  private readonly relay: HookRelay

  constructor(
    private readonly request: DeployRequest,
    hooks: RuntimeHooks,
    private readonly settings: PodAgentSettings,
    private readonly metrics: PodMetricsReader,
    private readonly parent: PodRef | undefined,
    private readonly forget: () => void,
  ) {
    this.instanceId = request.instanceId
    this.current = { ...request.limits }
    this.relay = new HookRelay(hooks, request.name, 'agent pod')
  }

  /** The pod now running the instance. */
  get pod(): PodRef | undefined {
    return this.agent === undefined ? undefined : { name: this.agent.name, uid: this.agent.uid }
  }

  async start(): Promise<void> {
    this.agent = await PodAgent.start(this.request, this.settings, this, this.parent)
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
    this.relay.deliver(subscriptionId, event, (m) => this.agent?.send(m))
  }

  onExit(exit: RuntimeExit): void {
    if (this.exit !== undefined || this.terminated) return
    this.exit = exit
    this.forget()
    this.relay.exit(exit)
  }

  async execute(input: unknown, options?: ExecuteOptions): Promise<unknown> {
    if (this.gate !== undefined) return this.gate.then(() => this.execute(input, options))
    if (this.paused !== undefined) {
      await this.paused.promise
      return this.execute(input, options)
    }
    const refused = this.refusal()
    if (refused !== undefined || this.agent === undefined) throw refused ?? terminatedError(this.instanceId)
    return this.agent.execute(input, options)
  }

  async pause(): Promise<void> {
    await this.gate
    this.assertAlive('pause')
    if (this.paused !== undefined) return
    let release!: () => void
    const promise = new Promise<void>((resolve) => (release = resolve))
    this.paused = { promise, release }
  }

  async resume(): Promise<void> {
    await this.gate
    this.assertAlive('resume')
    const held = this.paused
    this.paused = undefined
    held?.release()
  }

  async scale(limits: ResourceLimits): Promise<void> {
    await this.gate
    this.assertAlive('scale')
    const before = this.current
    this.current = { ...limits }
    if (limits.memoryMb !== before.memoryMb) {
      this.gate = this.replace(limits.memoryMb)
      try {
        await this.gate
      } finally {
        this.gate = undefined
      }
    } else this.agent?.applyLimits()
  }

  /** What the runner reports, with the pod's working set and CPU rate from the metrics API when the cluster has one. */
  async usage(): Promise<ResourceUsage> {
    const agent = this.agent
    if (agent === undefined)
      return { memoryBytes: 0, heapUsedBytes: 0, cpuMs: this.cpuBaseMs, storageBytes: 0, at: Date.now() }
    const pod = agent.stopped ? undefined : await this.metrics.of(agent.name)
    const reported = agent.usage()
    if (pod === undefined || agent.stopped) return reported
    const { cpuCores, memoryBytes, at, windowMs } = pod
    return { ...reported, memoryBytes, pod: { cpuCores, memoryBytes, at, windowMs } }
  }

  terminate(_reason?: string): Promise<void> {
    this.terminating ??= (async () => {
      this.terminated = true
      this.forget()
      this.paused?.release()
      await this.gate?.catch(() => undefined)
      await this.agent?.stop()
    })()
    return this.terminating
  }

  /** A pod's resources cannot change: a new memory limit replaces the pod once no command is in flight. */
  private async replace(memoryMb: number | undefined): Promise<void> {
    const old = this.agent
    if (old === undefined) return
    await old.idle()
    await old.stop()
    this.relay.dropSubscriptions()
    this.cpuBaseMs += old.cpuMs
    if (this.terminated) return
    try {
      this.agent = await PodAgent.start(this.request, this.settings, this, this.parent)
    } catch (e) {
      this.agent = undefined
      const reason = `Replacing the pod of agent instance ${this.instanceId} for memoryMb ${memoryMb ?? 'unlimited'} failed: ${(e as Error).message}`
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
