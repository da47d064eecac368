import { keptJsonText } from '../core/json-text.js'
import type { Clock } from '../core/clock.js'
import type { ContextBackend } from './backend.js'
import { encodeJsonText } from './encode.js'
import { GroupCommit } from './group-commit.js'

/** Journal entries live in the cache table under a prefix no cache key can have (`#` is not allowed in one). */
const JOURNAL_PREFIX = '#journal:'

/** How long a task journal entry is kept on a durable backend: a week, long enough for any recovery or takeover. */
export const JOURNAL_TTL_MS = 7 * 24 * 3600_000

/** How long on a memory backend: only retries in this process can read it (a crash loses it anyway), so an hour. */
export const MEMORY_JOURNAL_TTL_MS = 3600_000

/**
 * The journal of durable steps (`ctx.step`, the model and tool calls of
 * language-model agents), kept in a context backend's cache table. It
 * belongs to the system, not to a principal: its keys cannot be reached
 * through the cache.
 */
export class TaskJournal {
  /** On a backend that commits several entries at once: the entries written in one turn go in one transaction. */
  private readonly group: GroupCommit | undefined

  constructor(
    private readonly backend: ContextBackend,
    private readonly clock: Clock,
  ) {
    const many = backend.cachePutMany?.bind(backend)
    this.group = many === undefined ? undefined : new GroupCommit(many)
  }

  /** The entry under `key`: `{ found: false }` when there is none (or it expired). */
  async get(key: string): Promise<{ found: boolean; value?: unknown }> {
    const entry = await this.backend.cacheGet(JOURNAL_PREFIX + key)
    if (entry === undefined || entry.expiresAt <= this.clock.wallNow()) return { found: false }
    return { found: true, value: (JSON.parse(entry.text) as { v?: unknown }).v }
  }

  /**
   * Keeps `value` (JSON) under `key` for {@link JOURNAL_TTL_MS}
   * ({@link MEMORY_JOURNAL_TTL_MS} on a memory backend); resolves once it is
   * committed (with the other entries of the same turn, see {@link GroupCommit}).
   */
  async put(key: string, value: unknown): Promise<void> {
    const entry = {
      // A value just parsed from JSON text (a model call's answer, see metered-model) is kept as that text.
      text: keptText(value) ?? encodeJsonText({ v: value }, 'value'),
      expiresAt: this.clock.wallNow() + (this.backend.durable ? JOURNAL_TTL_MS : MEMORY_JOURNAL_TTL_MS),
    }
    if (this.group !== undefined) await this.group.put(JOURNAL_PREFIX + key, entry)
    else await this.backend.cachePut(JOURNAL_PREFIX + key, entry)
  }
}

function keptText(value: unknown): string | undefined {
  const text = keptJsonText(value)
  return text === undefined ? undefined : `{"v":${text}}`
}
