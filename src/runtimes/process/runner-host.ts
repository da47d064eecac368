/**
 * The agent's side of the runtime protocol, whatever carries it: it waits
 * for a `deploy` message, starts an {@link AgentRunner}, then serves
 * `execute`/`cancel`, hands subscribed events (`deliver`) to the runner and
 * sends the runner's events, service calls, usage and storage-limit reports
 * back. The `process` runtime's child (`child-main.ts`) carries the
 * messages over its IPC channel; the agent runner's HTTP mode
 * (`flotilla agent run --http`, used by the `kubernetes` runtime) over HTTP.
 */
import type { Tracer } from '../../telemetry/telemetry.js'
import { FlotillaError, serializeError } from '../../core/errors.js'
import { AgentRunner } from '../../agents/runner.js'
import type { AgentEvent } from '../../agents/agent-event.js'
import {
  checkParentMessage,
  decodeValue,
  encodeValue,
  PROTOCOL_EXIT_CODE,
  reviveError,
  type ChildDeploy,
  type ChildMessage,
  type ParentMessage,
} from './protocol.js'

interface PendingCall {
  resolve(value: unknown): void
  reject(error: FlotillaError): void
}

/** How a {@link RunnerHost} reaches the other side and ends its process. */
export interface RunnerHostIO {
  /** Sends one message to the orchestrator; throws when it cannot be serialised. */
  send(message: ChildMessage): void
  /** Ends the agent's process: `code` 0 after `shutdown`, {@link PROTOCOL_EXIT_CODE} after a malformed message. */
  exit(code: number): void
  /** Traces the commands that carry a `traceparent` (the agent process's OTLP exporter). @default none */
  tracer?: Tracer
}

/** What a {@link RunnerHost} is doing: waiting for its deploy, starting the agent, serving it, or failed to start. */
export type RunnerHostState = 'waiting' | 'deploying' | 'ready' | 'failed'

/** The agent's side of the runtime protocol (see the module comment). */
export class RunnerHost {
  private runner: AgentRunner | undefined
  private deploying = false
  private failed = false
  private callSeq = 0
  private usageTimer: NodeJS.Timeout | undefined
  private readonly calls = new Map<number, PendingCall>()
  private readonly commands = new Map<number, AbortController>()

  constructor(private readonly io: RunnerHostIO) {}

  /** Where the host stands. */
  get state(): RunnerHostState {
    if (this.runner !== undefined) return 'ready'
    if (this.failed) return 'failed'
    return this.deploying ? 'deploying' : 'waiting'
  }

  /** Validates and handles one message of the orchestrator; a malformed one reports `protocol-error` and exits. */
  receive(raw: unknown): void {
    const checked = checkParentMessage(raw)
    if (!checked.ok) {
      this.send({ type: 'protocol-error', reason: checked.reason })
      this.io.exit(PROTOCOL_EXIT_CODE)
      return
    }
    this.handle(checked.message)
  }

  /** Stops the agent (commands in flight are aborted) and its usage reports. */
  stop(): void {
    if (this.usageTimer !== undefined) clearInterval(this.usageTimer)
    this.runner?.stop()
  }

  private send(message: ChildMessage): void {
    this.io.send(message)
  }

  private usage(): { heapUsedBytes: number; rssBytes: number; cpuMs: number; storageBytes: number } {
    const mem = process.memoryUsage()
    const cpu = process.cpuUsage()
    return {
      heapUsedBytes: mem.heapUsed,
      rssBytes: mem.rss,
      cpuMs: (cpu.user + cpu.system) / 1000,
      storageBytes: this.runner?.workspace.usedBytes ?? 0,
    }
  }

  private sendEvent(event: AgentEvent): void {
    try {
      this.send({ type: 'event', event })
    } catch {
      // Data that JSON cannot carry (a BigInt, a cycle): send it as text.
      this.send({
        type: 'event',
        event: {
          type: event.type,
          data: {
            text: String(
              JSON.stringify(event.data, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '',
            ),
          },
        },
      })
    }
  }

  private call(op: string, args: unknown): Promise<unknown> {
    const id = ++this.callSeq
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      try {
        this.send({
          type: 'call',
          id,
          op: op as Extract<ChildMessage, { type: 'call' }>['op'],
          args: encodeValue(args),
        })
      } catch (e) {
        this.calls.delete(id)
        reject(
          new FlotillaError(
            'VALIDATION_FAILED',
            `The arguments of ctx service "${op}" cannot be sent as JSON: ${(e as Error).message}.`,
            { details: { op } },
          ),
        )
      }
    })
  }

  private async deploy(request: ChildDeploy): Promise<void> {
    try {
      this.runner = await AgentRunner.start({
        ...request,
        limits: request.storageMb === undefined ? {} : { storageMb: request.storageMb },
        hooks: { onEvent: (e) => this.sendEvent(e), call: (op, args) => this.call(op, args) },
        ...(this.io.tracer === undefined ? {} : { tracer: this.io.tracer }),
        onLimitExceeded: (error) => this.send({ type: 'limit', error: error.toJSON() }),
      })
    } catch (e) {
      this.failed = true
      this.send({ type: 'deploy-failed', error: serializeError(e) })
      return
    }
    const u = this.usage()
    this.send({ type: 'ready', agent: this.runner.definition.name, version: this.runner.definition.version, ...u })
    this.usageTimer = setInterval(() => this.send({ type: 'usage', ...this.usage() }), request.usageIntervalMs)
    this.usageTimer.unref()
  }

  private execute(message: Extract<ParentMessage, { type: 'execute' }>): void {
    const active = this.runner
    if (active === undefined) {
      this.send({
        type: 'error',
        id: message.id,
        error: new FlotillaError('IPC_PROTOCOL_ERROR', 'An execute arrived before the agent was deployed.').toJSON(),
      })
      return
    }
    const controller = new AbortController()
    this.commands.set(message.id, controller)
    active
      .execute(decodeValue(message.input), {
        signal: controller.signal,
        runId: message.runId,
        taskId: message.taskId,
        attempt: message.attempt,
        traceparent: message.traceparent,
      })
      .then(
        (output) => {
          try {
            this.send({ type: 'result', id: message.id, output: encodeValue(output) })
          } catch (e) {
            const error = new FlotillaError(
              'AGENT_OUTPUT_INVALID',
              `The agent's output cannot be sent as JSON: ${(e as Error).message}. Return JSON-safe values (or Uint8Array).`,
            )
            this.send({ type: 'error', id: message.id, error: error.toJSON() })
          }
        },
        (e: unknown) => this.send({ type: 'error', id: message.id, error: serializeError(e) }),
      )
      .finally(() => this.commands.delete(message.id))
  }

  private handle(message: ParentMessage): void {
    switch (message.type) {
      case 'deploy':
        if (this.deploying) return
        this.deploying = true
        void this.deploy(message.request)
        return
      case 'execute':
        this.execute(message)
        return
      case 'cancel':
        this.commands.get(message.id)?.abort(reviveError(message.reason))
        return
      case 'call-result':
      case 'call-error': {
        const pending = this.calls.get(message.id)
        if (pending === undefined) return
        this.calls.delete(message.id)
        if (message.type === 'call-result') pending.resolve(decodeValue(message.value))
        else pending.reject(reviveError(message.error))
        return
      }
      case 'limits':
        this.runner?.setStorageLimit(message.storageMb ?? undefined)
        return
      case 'deliver':
        this.runner?.deliver(message.subscriptionId, { ...message.event, data: decodeValue(message.event.data) })
        return
      case 'shutdown':
        this.stop()
        this.io.exit(0)
    }
  }
}
