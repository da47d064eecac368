import { existsSync, readFileSync } from 'node:fs'
import type { AgentStore } from '../store/store.js'
import type { AgentRecord } from '../store/records.js'

/** Options of {@link reconcileAgents}. */
export interface ReconcileOptions {
  /**
   * Also fail non-final agents of the `inprocess` runtime (or a process agent
   * without a pid) that this supervisor does not hold: right when one
   * orchestrator owns the store, wrong when several share it. @default false
   */
  readonly all?: boolean
  /** Wall-clock milliseconds for the transitions. */
  readonly now: number
}

let procReadable: boolean | undefined

/**
 * The state letter of a process from `/proc/<pid>/stat` (Linux), `null` when
 * there is no such process, or `undefined` when `/proc` cannot tell.
 */
function procState(pid: number): string | null | undefined {
  if (process.platform !== 'linux') return undefined
  procReadable ??= existsSync('/proc/self/stat')
  if (!procReadable) return undefined
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return code === 'ENOENT' || code === 'ESRCH' ? null : undefined
  }
  // "pid (comm) S …": comm may hold spaces and parentheses, so read after the last ')'.
  const state = stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .charAt(0)
  return state === '' ? undefined : state
}

/**
 * True when a process with this pid runs on this host. A zombie (exited, not
 * yet reaped by its parent: state `Z`) or a dying process (`X`) is not alive;
 * on Linux the state is read from `/proc/<pid>/stat`, elsewhere
 * `kill(pid, 0)` (which succeeds on a zombie) decides.
 */
export function processAlive(pid: number): boolean {
  const state = procState(pid)
  if (state === null) return false
  if (state !== undefined) return state !== 'Z' && state !== 'X' && state !== 'x'
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Marks FAILED the stored agents left PENDING, RUNNING or PAUSED by an
 * orchestrator that is gone: process agents whose process no longer runs
 * on this host (gone, or a zombie) (a process agent exits with its orchestrator), and with
 * `all`, every non-final agent `isLive` does not know. Each change is a
 * fenced transition, so an agent another orchestrator moves meanwhile is
 * left alone. Returns the agents it failed.
 */
export async function reconcileAgents(
  store: AgentStore,
  isLive: (agentId: string) => boolean,
  options: ReconcileOptions,
): Promise<AgentRecord[]> {
  const stale = await store.listAgents({ states: ['PENDING', 'RUNNING', 'PAUSED'] })
  const failed: AgentRecord[] = []
  for (const record of stale) {
    if (isLive(record.id)) continue
    const gone = record.runtime === 'process' && record.pid !== null ? !processAlive(record.pid) : options.all === true
    if (!gone) continue
    const reason =
      record.pid !== null && record.runtime === 'process'
        ? `orphaned: its process ${record.pid} is gone (the orchestrator that ran it stopped)`
        : 'orphaned: the orchestrator that ran it stopped'
    const next: AgentRecord = { ...record, state: 'FAILED', reason, pid: null, updatedAt: options.now }
    try {
      await store.saveAgent(next, { from: record.state, to: 'FAILED', reason, at: options.now })
      failed.push(next)
    } catch {
      // moved by someone else meanwhile (STORE_CONFLICT): theirs to report
    }
  }
  return failed
}
