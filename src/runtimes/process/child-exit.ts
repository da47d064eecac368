/**
 * What the `process` runtime decides about an agent process from the
 * outside: the environment it starts with, whether it is over a limit, and
 * why it exited.
 */
import { limitExit } from '../exits.js'
import type { ResourceLimits, RuntimeExit } from '../runtime.js'
import { PROTOCOL_EXIT_CODE } from './protocol.js'

const MB = 1024 * 1024

/** What V8 prints to stderr when a heap limit kills the process. */
const OOM = /JavaScript heap out of memory|Reached heap limit|Allocation failed - process out of memory/

/** Variables inherited from this process by every agent process. */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'TZ', 'SystemRoot']

/**
 * The environment of an agent process: a few inherited variables (PATH,
 * HOME, temp folders, LANG, TZ, and the `OTEL_*` settings), then the spec's `env`. Never NODE_OPTIONS,
 * neither inherited nor from the spec: it could lift the heap limit.
 */
export function childEnv(extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const key of INHERITED) {
    const v = process.env[key]
    if (v !== undefined) env[key] = v
  }
  // The OpenTelemetry settings: an agent process exports its spans where its parent does.
  for (const [key, v] of Object.entries(process.env)) if (key.startsWith('OTEL_') && v !== undefined) env[key] = v
  for (const [k, v] of Object.entries(extra)) if (k !== 'NODE_OPTIONS') env[k] = v
  return env
}

/** The limit exit of a process whose resident set or CPU time is over its limits, if it is. */
export function overLimit(
  instanceId: string,
  limits: ResourceLimits,
  rssBytes: number,
  cpuMs: number,
  rssLimitBytes: (memoryMb: number) => number,
): RuntimeExit | undefined {
  if (limits.memoryMb !== undefined) {
    const cap = rssLimitBytes(limits.memoryMb)
    if (rssBytes > cap) {
      return limitExit(
        'memory',
        `Agent instance ${instanceId} used ${Math.round(rssBytes / MB)} MB of memory (resident set), over its cap of ${Math.round(cap / MB)} MB for memoryMb ${limits.memoryMb}; the process was killed.`,
        {
          instanceId,
          memoryMb: limits.memoryMb,
          rssBytes,
          rssLimitBytes: cap,
        },
      )
    }
  }
  if (limits.cpuMs !== undefined && cpuMs > limits.cpuMs) {
    return limitExit(
      'cpu',
      `Agent instance ${instanceId} used ${Math.round(cpuMs)} ms of CPU time, over its limit of ${limits.cpuMs} ms; the process was killed.`,
      {
        instanceId,
        cpuMs: Math.round(cpuMs),
        cpuLimitMs: limits.cpuMs,
      },
    )
  }
  return undefined
}

/** What is known about a process that exited without a reason of ours. */
export interface ExitFacts {
  readonly instanceId: string
  readonly pid: number
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** The last bytes it wrote to stderr. */
  readonly stderrTail: string
  readonly memoryMb: number | undefined
  /** The heap it last reported, bytes. */
  readonly heapUsedBytes: number
  readonly rssBytes: number
}

/**
 * Why a process exited: heap exhaustion (V8's message on stderr, or SIGABRT
 * with the last reported heap near the limit) is `RESOURCE_LIMIT_EXCEEDED`
 * (limit `memory`); the protocol exit code is `IPC_PROTOCOL_ERROR`; anything
 * else is `AGENT_CRASHED` naming the exit code or signal, with the tail of
 * stderr in the details.
 */
export function classifyExit(f: ExitFacts): RuntimeExit {
  const stderr = f.stderrTail.slice(-1000)
  if (
    OOM.test(f.stderrTail) ||
    (f.signal === 'SIGABRT' && f.memoryMb !== undefined && f.heapUsedBytes > 0.75 * f.memoryMb * MB)
  ) {
    return limitExit(
      'memory',
      `Agent instance ${f.instanceId} ran out of heap memory (memoryMb ${f.memoryMb ?? 'default'}); the process died. Raise limits.memoryMb or use less memory.`,
      {
        instanceId: f.instanceId,
        memoryMb: f.memoryMb ?? null,
        heapUsedBytes: f.heapUsedBytes,
        rssBytes: f.rssBytes,
        exitCode: f.code,
        signal: f.signal,
      },
    )
  }
  if (f.code === PROTOCOL_EXIT_CODE) {
    return {
      code: 'IPC_PROTOCOL_ERROR',
      reason: `The agent process of ${f.instanceId} exited after a malformed message.`,
      details: { instanceId: f.instanceId, exitCode: f.code, stderr },
    }
  }
  const how = f.signal !== null ? `was killed by signal ${f.signal}` : `exited with code ${f.code ?? 'unknown'}`
  return {
    code: 'AGENT_CRASHED',
    reason: `The process of agent instance ${f.instanceId} (pid ${f.pid}) ${how}.`,
    details: { instanceId: f.instanceId, pid: f.pid, exitCode: f.code, signal: f.signal, stderr },
  }
}
