/**
 * The watch of one agent pod. Each event is read with {@link viewPod}; the
 * watch is started again from the last resource version when the server
 * closes it or it drops, and from a fresh read of the pod when that version
 * is too old (410 Gone). When it cannot be started again for
 * `retryMs`, `onLost` reports `KUBERNETES_WATCH_LOST`.
 */
import type { V1Pod } from '@kubernetes/client-node'
import { FlotillaError } from '../../core/errors.js'
import { sleep } from '../exits.js'
import type { RuntimeEvent, RuntimeExit } from '../runtime.js'
import type { KubeApi, PodWatch, WatchEventType } from './kube-api.js'
import { deletedExit, viewPod } from './pod-status.js'

/** What a {@link PodWatcher} reports. */
export interface PodWatcherHooks {
  /** The memory limit, named in an OOMKilled reason. */
  memoryMb(): number | undefined
  /** The pod runs and has an IP (called once). */
  onRunning(pod: V1Pod, ip: string): void
  /** The pod stopped: why (called once). */
  onStopped(exit: RuntimeExit): void
  /** The pod is gone from the API server. */
  onDeleted(): void
  /** The watch could not be started again. */
  onLost(error: FlotillaError): void
  /** A warning for the agent's log (the watch dropped and was started again). */
  onEvent(event: RuntimeEvent): void
}

/** Watches one pod (see the module comment). */
export class PodWatcher {
  /** Why the pod is not running yet, from its last status. */
  lastWhy: string | undefined
  private resourceVersion: string | undefined
  private current: PodWatch | undefined
  private stopped = false
  private running = false
  private done = false
  private restarts = 0

  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly name: string,
    private readonly retryMs: number,
    private readonly hooks: PodWatcherHooks,
  ) {}

  /** True while a watch is open (or being opened again). */
  get watching(): boolean {
    return !this.stopped && !this.done
  }

  /** How many times the watch was started again. */
  get restartCount(): number {
    return this.restarts
  }

  /** Starts watching from `resourceVersion`; rejects when the first watch cannot be started. */
  async start(resourceVersion: string | undefined): Promise<void> {
    this.resourceVersion = resourceVersion
    this.current = await this.open()
  }

  /** Ends the watch. */
  stop(): void {
    this.stopped = true
    this.current?.stop()
  }

  private open(): Promise<PodWatch> {
    return this.api.watchPod(
      this.namespace,
      this.name,
      this.resourceVersion,
      (type, object) => this.onEvent(type, object),
      (error) => void this.reopen(error),
    )
  }

  private onEvent(type: WatchEventType, pod: V1Pod): void {
    if (this.stopped) return
    if (type === 'ERROR') {
      const status = pod as unknown as { code?: number; message?: string }
      if (status.code === 410) this.resourceVersion = undefined // too old: start again from a fresh read
      return
    }
    const version = pod.metadata?.resourceVersion
    if (version !== undefined) this.resourceVersion = version
    if (type === 'BOOKMARK') return
    if (type === 'DELETED') {
      this.done = true
      this.current?.stop()
      this.stopWith(deletedExit(this.name))
      this.hooks.onDeleted()
      return
    }
    const view = viewPod(pod, this.hooks.memoryMb())
    if (view.kind === 'pending') this.lastWhy = view.why
    else if (view.kind === 'running') {
      if (!this.running) {
        this.running = true
        this.hooks.onRunning(pod, view.ip)
      }
    } else this.stopWith(view.exit)
  }

  private stopWith(exit: RuntimeExit): void {
    if (this.finalExit !== undefined) return
    this.finalExit = exit
    this.hooks.onStopped(exit)
  }

  private finalExit: RuntimeExit | undefined

  private async reopen(error: FlotillaError | undefined): Promise<void> {
    if (this.stopped || this.done) return
    const deadline = Date.now() + this.retryMs
    let last = error
    this.restarts++
    this.hooks.onEvent({
      type: 'log',
      data: {
        level: 'warn',
        message: `The watch of pod ${this.name} ended (${error?.message ?? 'closed by the server'}); watching again.`,
      },
    })
    while (!this.stopped && !this.done) {
      try {
        if (this.resourceVersion === undefined) {
          const pod = await this.api.readPod(this.namespace, this.name)
          if (pod === undefined) return this.onEvent('DELETED', { metadata: { name: this.name } })
          this.onEvent('MODIFIED', pod)
        }
        this.current = await this.open()
        return
      } catch (e) {
        last = e instanceof FlotillaError ? e : last
        if ((e as FlotillaError).details?.status === 410) this.resourceVersion = undefined
      }
      if (Date.now() > deadline) break
      await sleep(200)
    }
    if (this.stopped || this.done) return
    this.done = true
    this.hooks.onLost(
      new FlotillaError(
        'KUBERNETES_WATCH_LOST',
        `The watch of pod ${this.name} dropped and could not be started again within ${this.retryMs} ms${last ? `: ${last.message}` : ''}.`,
        { details: { pod: this.name, cause: last?.code ?? null } },
      ),
    )
  }
}
