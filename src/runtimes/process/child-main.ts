/**
 * The entry point of an agent process started by the `process` runtime
 * (`dist/runtimes/process/child-main.js`, forked with an IPC channel). It
 * waits for a `deploy` message, starts an {@link AgentRunner}, then serves
 * `execute`/`cancel`, hands subscribed events (`deliver`) to the runner,
 * and forwards the runner's events, service calls,
 * usage and storage-limit reports to the parent. When the channel closes
 * (the parent exited or died) it exits at once.
 *
 * @packageDocumentation
 */
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

let runner: AgentRunner | undefined
let deploying = false
let callSeq = 0
const calls = new Map<number, PendingCall>()
const commands = new Map<number, AbortController>()

function send(message: ChildMessage): void {
  if (process.connected) process.send?.(message)
}

function usage(): { heapUsedBytes: number; rssBytes: number; cpuMs: number; storageBytes: number } {
  const mem = process.memoryUsage()
  const cpu = process.cpuUsage()
  return {
    heapUsedBytes: mem.heapUsed,
    rssBytes: mem.rss,
    cpuMs: (cpu.user + cpu.system) / 1000,
    storageBytes: runner?.workspace.usedBytes ?? 0,
  }
}

function sendEvent(event: AgentEvent): void {
  try {
    send({ type: 'event', event })
  } catch {
    // Data that JSON cannot carry (a BigInt, a cycle): send it as text.
    send({
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

function call(op: string, args: unknown): Promise<unknown> {
  const id = ++callSeq
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject })
    try {
      send({ type: 'call', id, op: op as Extract<ChildMessage, { type: 'call' }>['op'], args: encodeValue(args) })
    } catch (e) {
      calls.delete(id)
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

async function deploy(request: ChildDeploy): Promise<void> {
  try {
    runner = await AgentRunner.start({
      ...request,
      limits: request.storageMb === undefined ? {} : { storageMb: request.storageMb },
      hooks: { onEvent: sendEvent, call },
      onLimitExceeded: (error) => send({ type: 'limit', error: error.toJSON() }),
    })
  } catch (e) {
    send({ type: 'deploy-failed', error: serializeError(e) })
    return
  }
  const u = usage()
  send({ type: 'ready', agent: runner.definition.name, version: runner.definition.version, ...u })
  setInterval(() => send({ type: 'usage', ...usage() }), request.usageIntervalMs).unref()
}

function execute(message: Extract<ParentMessage, { type: 'execute' }>): void {
  const active = runner
  if (active === undefined) {
    send({
      type: 'error',
      id: message.id,
      error: new FlotillaError('IPC_PROTOCOL_ERROR', 'An execute arrived before the agent was deployed.').toJSON(),
    })
    return
  }
  const controller = new AbortController()
  commands.set(message.id, controller)
  active
    .execute(decodeValue(message.input), {
      signal: controller.signal,
      runId: message.runId,
      taskId: message.taskId,
      attempt: message.attempt,
    })
    .then(
      (output) => {
        try {
          send({ type: 'result', id: message.id, output: encodeValue(output) })
        } catch (e) {
          const error = new FlotillaError(
            'AGENT_OUTPUT_INVALID',
            `The agent's output cannot be sent as JSON: ${(e as Error).message}. Return JSON-safe values (or Uint8Array).`,
          )
          send({ type: 'error', id: message.id, error: error.toJSON() })
        }
      },
      (e: unknown) => send({ type: 'error', id: message.id, error: serializeError(e) }),
    )
    .finally(() => commands.delete(message.id))
}

function onMessage(raw: unknown): void {
  const checked = checkParentMessage(raw)
  if (!checked.ok) {
    send({ type: 'protocol-error', reason: checked.reason })
    process.exit(PROTOCOL_EXIT_CODE)
  }
  const message = checked.message
  switch (message.type) {
    case 'deploy':
      if (deploying) return
      deploying = true
      void deploy(message.request)
      return
    case 'execute':
      execute(message)
      return
    case 'cancel':
      commands.get(message.id)?.abort(reviveError(message.reason))
      return
    case 'call-result':
    case 'call-error': {
      const pending = calls.get(message.id)
      if (pending === undefined) return
      calls.delete(message.id)
      if (message.type === 'call-result') pending.resolve(decodeValue(message.value))
      else pending.reject(reviveError(message.error))
      return
    }
    case 'limits':
      runner?.setStorageLimit(message.storageMb ?? undefined)
      return
    case 'deliver':
      runner?.deliver(message.subscriptionId, { ...message.event, data: decodeValue(message.event.data) })
      return
    case 'shutdown':
      runner?.stop()
      process.exit(0)
  }
}

if (process.send === undefined) {
  // A program's entry point, run by mistake from a shell: it tells the person at the terminal.
  // eslint-disable-next-line no-restricted-syntax
  process.stderr.write(
    'child-main is the agent process of the flotilla process runtime; it must be started by it (with an IPC channel).\n',
  )
  process.exit(2)
}
process.on('message', onMessage)
// The parent exited or died: never outlive it.
process.on('disconnect', () => process.exit(0))
