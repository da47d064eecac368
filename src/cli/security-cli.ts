import { existsSync } from 'node:fs'
import { userInfo } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { openBackend, type Backend } from '../orchestrator/backend.js'
import { ApiKeys } from '../security/api-keys.js'
import { AuditLog, type AuditInput, type AuditLogStore } from '../security/audit.js'
import { MemoryAuditLogStore } from '../security/memory/memory-audit-log.js'
import { MemorySecurityStore } from '../security/memory/memory-security-store.js'
import type { SecurityStore } from '../security/security-store.js'
import { parseStoreSpec } from '../store/open-store.js'
import type { CliIO } from './execute-run.js'
import { storeLabel, storeSpec } from './store-option.js'

/** The actor of the audit entries the CLI writes. */
export const CLI_ACTOR = 'cli'

/** The API keys and the audit log of a store, opened for a CLI command. */
export interface CliSecurity {
  readonly keys: ApiKeys
  readonly audit: AuditLog
  /** A short, password-free name of the store for messages. */
  readonly label: string
  /** False when the store keeps no keys or audit log (memory, or a backend without security tables): nothing outlives the command. */
  readonly durable: boolean
  /** False when the store is a SQLite file that does not exist (the command then sees no keys and no entries). */
  readonly exists: boolean
  /** Appends an entry with actor `cli` (and the operating-system user in its details). */
  record(input: Omit<AuditInput, 'actor'>): Promise<void>
  /** Closes what was opened. */
  close(): Promise<void>
}

/** The security parts of a backend, when it keeps them (`undefined` otherwise). */
export function securityParts(backend: Backend): { security?: SecurityStore; audit?: AuditLogStore } {
  const b = backend as Backend & { security?: SecurityStore; audit?: AuditLogStore }
  return { security: b.security, audit: b.audit }
}

function osUser(): string | undefined {
  try {
    return userInfo().username
  } catch {
    return undefined
  }
}

/**
 * Opens the keys and audit log of `--store` (or its default). With
 * `readOnlyIfMissing`, a SQLite file that does not exist is not created:
 * the command sees an empty store. A backend without security tables falls
 * back to memory ones (`durable: false`; the command should say so).
 *
 * @example
 * ```ts
 * const sec = await openCliSecurity(values.store, { readOnlyIfMissing: true })
 * try { console.log(await sec.keys.list()) } finally { await sec.close() }
 * ```
 */
export async function openCliSecurity(
  flag: string | undefined,
  options: { readOnlyIfMissing?: boolean; cwd?: string } = {},
): Promise<CliSecurity> {
  const cwd = options.cwd ?? process.cwd()
  const spec = storeSpec(flag)
  const label = storeLabel(spec, cwd)
  const parsed = parseStoreSpec(spec)
  const missing =
    parsed.kind === 'sqlite' &&
    parsed.path !== ':memory:' &&
    !existsSync(isAbsolute(parsed.path) ? parsed.path : resolve(cwd, parsed.path))
  const backend = missing && options.readOnlyIfMissing === true ? undefined : await openBackend(spec, { cwd })
  const parts = backend === undefined ? {} : securityParts(backend)
  const durable = backend !== undefined && backend.kind !== 'memory' && parts.security !== undefined
  const audit = new AuditLog(parts.audit ?? new MemoryAuditLogStore())
  const user = osUser()
  return {
    keys: new ApiKeys(parts.security ?? new MemorySecurityStore()),
    audit,
    label,
    durable,
    exists: !missing,
    async record(input) {
      await audit.record({
        ...input,
        actor: CLI_ACTOR,
        details: { ...(input.details ?? {}), ...(user === undefined ? {} : { user }) },
      })
    },
    close: async () => {
      await backend?.close()
    },
  }
}

/** Warns on stderr that `sec` keeps nothing (memory, or a backend without security tables). */
export function warnNotDurable(sec: CliSecurity, io: CliIO): void {
  if (sec.durable || !sec.exists) return
  io.err.write(
    `warning: the store ${sec.label} keeps no API keys or audit log${
      sec.label === 'memory' ? '' : ' (this Flotilla has no security tables for it)'
    }: what this command does ends with it.\n`,
  )
}
