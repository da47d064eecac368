/**
 * The resource figures of one agent process: what the child last reported
 * (heap, resident set, CPU time, storage), what `/proc` says where there is
 * one, and the watchdog that samples them at an interval so the limits can
 * be checked. An {@link AgentProcess} holds one.
 */
import { hasProc, readProcStats } from './proc-stats.js'

/** The usage figures the child reports in its `ready` and `usage` messages. */
export interface ReportedUsage {
  heapUsedBytes: number
  rssBytes: number
  cpuMs: number
  storageBytes: number
}

function figures(m: ReportedUsage): ReportedUsage {
  return { heapUsedBytes: m.heapUsedBytes, rssBytes: m.rssBytes, cpuMs: m.cpuMs, storageBytes: m.storageBytes }
}

/** Measures one agent process (by pid) from its reports and from `/proc`. */
export class ProcessMeter {
  private reported: ReportedUsage = { heapUsedBytes: 0, rssBytes: 0, cpuMs: 0, storageBytes: 0 }
  private cpuAtReady = 0
  private lastCpuMs = 0
  private lastRss = 0
  private sampling = false
  private stopped = false
  private watchdog: NodeJS.Timeout | undefined

  constructor(private readonly pid: number) {}

  /** CPU ms the process used since its agent was ready. */
  get cpuMs(): number {
    return Math.max(0, this.lastCpuMs - this.cpuAtReady)
  }

  /** The resident set last measured, bytes. */
  get rssBytes(): number {
    return this.lastRss
  }

  /** The heap the child last reported using, bytes. */
  get heapUsedBytes(): number {
    return this.reported.heapUsedBytes
  }

  /** The storage the child last reported using, bytes. */
  get storageBytes(): number {
    return this.reported.storageBytes
  }

  /** Takes a `usage` report of the child; its CPU time counts where there is no `/proc`. */
  onUsage(m: ReportedUsage): void {
    this.reported = figures(m)
    if (!hasProc) this.lastCpuMs = m.cpuMs
  }

  /** Takes the `ready` report of the child (at once) and counts CPU time from now on (once `/proc` is read). */
  async onReady(m: ReportedUsage): Promise<void> {
    this.reported = figures(m)
    const stats = await readProcStats(this.pid)
    this.cpuAtReady = stats?.cpuMs ?? m.cpuMs
    this.lastCpuMs = this.cpuAtReady
    this.lastRss = stats?.rssBytes ?? this.reported.rssBytes
  }

  /** Reads `/proc` now; where there is none, takes the resident set the child last reported. */
  async sample(): Promise<void> {
    const stats = await readProcStats(this.pid)
    if (stats !== undefined && stats.state !== 'Z') {
      this.lastCpuMs = stats.cpuMs
      this.lastRss = stats.rssBytes
    } else if (!hasProc) {
      this.lastRss = this.reported.rssBytes
    }
  }

  /** Starts the watchdog: a sample every `intervalMs` (one at a time), each followed by `check`, until {@link stop}. */
  watch(intervalMs: number, check: () => void): void {
    if (this.stopped) return
    this.watchdog = setInterval(() => void this.tick(check), intervalMs)
    this.watchdog.unref()
  }

  /** Stops the watchdog for good: the process is gone. */
  stop(): void {
    this.stopped = true
    if (this.watchdog !== undefined) clearInterval(this.watchdog)
  }

  private async tick(check: () => void): Promise<void> {
    if (this.sampling || this.stopped) return
    this.sampling = true
    try {
      await this.sample()
      check()
    } finally {
      this.sampling = false
    }
  }
}
