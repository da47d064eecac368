import { watch, type FSWatcher } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { z } from 'zod'
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js'
import { FlotillaError, type ErrorCode } from '../../core/errors.js'
import type { AnyAgentDefinition } from '../../agents/define-agent.js'
import type { Registry } from '../registry.js'
import { agentKey, retire } from './agent-file.js'
import {
  fileStamp,
  loadAgentFile,
  loadAgentFolder,
  resolveDiscoverOptions,
  type AgentDiscoveryReport,
  type DiscoverAgentsOptions,
} from './discover-agents.js'
import { listMatchingFiles, toPosix } from './glob.js'

/** What happened to a watched file. */
export interface AgentReloadEvent {
  /**
   * `reloaded`: the file (changed or new) loaded and its definitions are
   * registered; `reload-failed`: it failed to load and the definitions it
   * had before stay active; `removed`: it was deleted and its definitions
   * were unregistered.
   */
  type: 'reloaded' | 'reload-failed' | 'removed'
  /** Absolute path of the file. */
  file: string
  /** `name@version` of the agents now registered from it (`reloaded`) or unregistered (`removed`). */
  agents?: string[]
  /** Why it failed (`reload-failed`). */
  error?: { code: ErrorCode; message: string }
}

/** Options of {@link watchAgents}. */
export interface WatchAgentsOptions extends DiscoverAgentsOptions {
  /** Quiet time after the last change of a file before it is reloaded. @default 100 */
  debounceMs?: number
  /** Called for every reload, failed reload and removal; errors it throws are ignored. @default none */
  onEvent?: (event: AgentReloadEvent) => void
  /**
   * Watch the folder with one recursive watcher (`fs.watch(folder, { recursive: true })`).
   * `false` watches every subfolder on its own, following new and removed ones.
   * @default true, falling back to per-folder watchers where recursive watching is unsupported
   */
  recursive?: boolean
  /** Clock of the debounce timers. @default systemClock */
  clock?: Clock
}

/** A running watch started by {@link watchAgents}. */
export interface AgentWatcher {
  /** What the initial load of the folder registered and what failed. */
  readonly report: AgentDiscoveryReport
  /** Stops watching and waits for a reload under way. Registered definitions stay registered. */
  close(): Promise<void>
}

const watchSchema = z
  .object({
    debounceMs: z.number().min(0).max(60_000).optional(),
    onEvent: z
      .custom<(event: AgentReloadEvent) => void>((v) => typeof v === 'function', 'onEvent must be a function')
      .optional(),
    recursive: z.boolean().optional(),
    clock: z
      .custom<Clock>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { setTimeout?: unknown }).setTimeout === 'function',
        'clock must implement Clock',
      )
      .optional(),
  })
  .loose()

const RESCAN = '\0rescan'

/**
 * Loads the agent modules of `folder` like {@link discoverAgents}, then
 * watches it and reloads a file when it changes, is added or removed,
 * after `debounceMs` of quiet. Reloads run one at a time.
 *
 * How a change replaces definitions without disturbing work in flight:
 *
 * - a new `name@version` (the usual way to ship a change: bump the
 *   version) is registered first and becomes the latest, then the versions
 *   the file no longer exports are unregistered;
 * - the same `name@version` re-registered is swapped: the old definition
 *   is unregistered, then the new one registered. Between the two, for the
 *   time of the new definition's `initialize`, that version has no
 *   instance: a task dispatched then fails with the retryable
 *   `AGENT_UNAVAILABLE` and is retried by its policy.
 *
 * Unregistering an instance only keeps new work off it: an execution in
 * flight finishes on the instance (and definition) it already acquired.
 * A file that fails to load (syntax error, throw, no agents, invalid or
 * duplicate definition, failing `initialize`) leaves the definitions it
 * had before active and is reported as `reload-failed`. The file is
 * imported again with `?v=<mtime>-<size>`; modules it imports itself are
 * not reloaded, and each version stays in Node's module cache.
 *
 * @example
 * ```ts
 * const watcher = await watchAgents(registry, './agents', {
 *   onEvent: (e) => console.log(e.type, e.file, e.agents ?? e.error?.message),
 * })
 * // … later
 * await watcher.close()
 * ```
 */
export async function watchAgents(
  registry: Registry,
  folder: string,
  options: WatchAgentsOptions = {},
): Promise<AgentWatcher> {
  const parsed = watchSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path.join('.') ?? ''
    throw new FlotillaError('VALIDATION_FAILED', `watchAgents: invalid option "${path}": ${issue?.message}.`, {
      details: { path },
    })
  }
  const { debounceMs = 100, onEvent, recursive = true, clock = systemClock, ...discover } = options
  const resolved = resolveDiscoverOptions('watchAgents', discover)
  const root = resolve(folder)
  const { report, owned } = await loadAgentFolder(registry, root, resolved)

  const timers = new Map<string, TimerHandle>()
  const watchers = new Map<string, FSWatcher>()
  let chain: Promise<void> = Promise.resolve()
  let closed = false

  const emit = (event: AgentReloadEvent): void => {
    try {
      onEvent?.(event)
    } catch {
      // a listener's failure must not stop the watcher
    }
  }

  const processFile = async (file: string): Promise<void> => {
    const stamp = await fileStamp(file)
    const prev = owned.get(file)
    if (stamp === undefined) {
      if (!prev) return
      owned.delete(file)
      const agents = prev.definitions.filter((d) => retire(registry, d)).map(agentKey)
      return emit({ type: 'removed', file, agents })
    }
    if (prev?.stamp === stamp) return
    const previous: AnyAgentDefinition[] = prev?.definitions ?? []
    const result = await loadAgentFile(registry, file, stamp, previous, resolved.instances)
    if (result.ok) {
      owned.set(file, { stamp, definitions: result.definitions })
      emit({ type: 'reloaded', file, agents: result.definitions.map(agentKey) })
    } else {
      owned.set(file, { stamp, definitions: previous })
      emit({ type: 'reload-failed', file, error: { code: result.failure.code, message: result.failure.message } })
    }
  }

  const rescan = async (): Promise<void> => {
    if (!recursiveMode) await syncFolderWatchers()
    const files = await listMatchingFiles(root, resolved.pattern).catch(() => [])
    for (const file of new Set([...files, ...owned.keys()])) await processFile(file)
  }

  const schedule = (key: string): void => {
    if (closed) return
    const pending = timers.get(key)
    if (pending !== undefined) clock.clearTimeout(pending)
    timers.set(
      key,
      clock.setTimeout(() => {
        timers.delete(key)
        if (closed) return
        chain = chain
          .then(() => (closed ? undefined : key === RESCAN ? rescan() : processFile(key)))
          .catch(() => undefined)
      }, debounceMs),
    )
  }

  const onPath = (path: string | undefined): void => {
    if (path !== undefined && resolved.pattern.test(toPosix(relative(root, path)))) schedule(path)
    else schedule(RESCAN) // a folder was added or removed, or the platform did not say which file changed
  }

  const watchOne = (dir: string, rec: boolean): void => {
    const w = watch(dir, { recursive: rec }, (_event, name) =>
      onPath(name == null ? undefined : join(dir, name.toString())),
    )
    w.on('error', () => {
      w.close()
      watchers.delete(dir)
      schedule(RESCAN)
    })
    watchers.set(dir, w)
  }

  const syncFolderWatchers = async (): Promise<void> => {
    const dirs = new Set<string>()
    const walk = async (dir: string): Promise<void> => {
      dirs.add(dir)
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
      for (const e of entries)
        if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) await walk(join(dir, e.name))
    }
    await walk(root)
    if (closed) return
    for (const [dir, w] of watchers) {
      if (!dirs.has(dir)) {
        w.close()
        watchers.delete(dir)
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue
      try {
        watchOne(dir, false)
      } catch {
        // removed meanwhile: the next rescan drops it
      }
    }
  }

  let recursiveMode = recursive
  if (recursiveMode) {
    try {
      watchOne(root, true)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM') throw e
      recursiveMode = false
    }
  }
  if (!recursiveMode) await syncFolderWatchers()
  // A change made while the initial load ran (or before the watchers started) is caught by one rescan.
  schedule(RESCAN)

  return {
    report,
    async close() {
      closed = true
      for (const t of timers.values()) clock.clearTimeout(t)
      timers.clear()
      for (const w of watchers.values()) w.close()
      watchers.clear()
      await chain
    },
  }
}
