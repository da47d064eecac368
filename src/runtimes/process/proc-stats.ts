/**
 * Reading a process's resident set and CPU time from Linux's `/proc`, so a
 * watchdog can enforce limits on a child that is too busy (or too broken) to
 * report them itself. Elsewhere the readers answer `undefined` and the
 * runtime falls back to what the child reports.
 */
import { readFile } from 'node:fs/promises'

/** Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux ABI Node supports). */
const TICKS_PER_SECOND = 100

/** What `/proc` says about one process. */
export interface ProcStats {
  /** Resident set size (`VmRSS`), bytes. */
  readonly rssBytes: number
  /** User + system CPU time, ms. */
  readonly cpuMs: number
  /** The state letter of `/proc/<pid>/stat` (`R`, `S`, `T` stopped, `Z` zombie…). */
  readonly state: string
}

/** True when this system has a Linux-style `/proc`. */
export const hasProc = process.platform === 'linux'

/** Parses the state and CPU time (utime + stime, ms) of a `/proc/<pid>/stat` line. */
export function parseStat(text: string): { state: string; cpuMs: number } | undefined {
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const close = text.lastIndexOf(')')
  if (close < 0) return undefined
  const fields = text.slice(close + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return { state: fields[0], cpuMs: ((utime + stime) * 1000) / TICKS_PER_SECOND }
}

/** Parses `VmRSS` of a `/proc/<pid>/status` text, in bytes (0 when absent, e.g. a zombie). */
export function parseRss(text: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
  return m === null ? 0 : Number(m[1]) * 1024
}

/** Reads the stats of `pid`, or `undefined` without `/proc` or once the process is gone. */
export async function readProcStats(pid: number): Promise<ProcStats | undefined> {
  if (!hasProc) return undefined
  try {
    const [stat, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
    ])
    const parsed = parseStat(stat)
    if (parsed === undefined) return undefined
    return { rssBytes: parseRss(status), cpuMs: parsed.cpuMs, state: parsed.state }
  } catch {
    return undefined
  }
}

/** The state letter of `pid` (`T` when stopped), or `undefined` without `/proc` or once it is gone. */
export async function readProcState(pid: number): Promise<string | undefined> {
  if (!hasProc) return undefined
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'))?.state
  } catch {
    return undefined
  }
}
