import type { ApiKeyInfo, IssuedKey } from '../security/api-keys.js'
import type { Permission } from '../security/permissions.js'
import { ROLES } from '../security/roles.js'
import { expectPositionals, parseAge, splitArgs, usageError } from './args.js'
import { STORE_FLAGS, type Command } from './command.js'
import { formatDateTime, formatTable } from './format.js'
import { openCliSecurity, warnNotDurable, type CliSecurity } from './security-cli.js'
import { STORE_HELP } from './store-option.js'
import type { CliIO } from './execute-run.js'

const FOOTER = `      --json              Print the result as JSON
${STORE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help`

/** Opens the keys of `--store`, runs `fn`, closes them. */
async function withSecurity<T>(
  flag: unknown,
  readOnlyIfMissing: boolean,
  io: CliIO,
  fn: (sec: CliSecurity) => Promise<T>,
): Promise<T> {
  const sec = await openCliSecurity(flag as string | undefined, { readOnlyIfMissing })
  try {
    warnNotDurable(sec, io)
    return await fn(sec)
  } finally {
    await sec.close()
  }
}

/** Parses `--scope resource=action1,action2` into a grant; malformed is `CLI_USAGE`. */
export function parseScope(command: string, text: string): Permission {
  const eq = text.lastIndexOf('=')
  const resource = eq <= 0 ? '' : text.slice(0, eq).trim()
  const actions =
    eq <= 0
      ? []
      : text
          .slice(eq + 1)
          .split(',')
          .map((a) => a.trim())
          .filter((a) => a !== '')
  if (resource === '' || actions.length === 0)
    throw usageError(
      command,
      `--scope expects resource=action1,action2, as in --scope 'workflow:nightly-report=read,start'; got "${text}".`,
    )
  return { resource, actions }
}

function scopesText(scopes: readonly Permission[] | null): string {
  return scopes === null ? '(role)' : scopes.map((s) => `${s.resource}=${s.actions.join(',')}`).join(' ')
}

function keyState(k: ApiKeyInfo, now: number): string {
  if (k.revokedAt !== null) return 'revoked'
  if (k.expiresAt !== null && now >= k.expiresAt) return 'expired'
  if (k.previousValidUntil !== null && now < k.previousValidUntil) return 'rotating'
  return 'active'
}

function showIssued(io: CliIO, issued: IssuedKey, headline: string): void {
  io.out.write(`${headline}\n\n  ${issued.key}\n\n`)
  io.out.write(
    'This is the only time the key is shown: store it now (a secret manager, a CI secret). Only its hash is kept.\n',
  )
}

const CREATE_FLAGS = {
  ...STORE_FLAGS,
  name: { type: 'string' },
  role: { type: 'string' },
  scope: { type: 'string', multiple: true },
  ttl: { type: 'string' },
} as const

const CREATE_HELP = `Usage: flotilla keys create --name NAME --role ROLE [options]

Creates an API key for the HTTP API ("flotilla serve") in the store, and
prints it once: flt_<id>_<secret>, where only a hash of the 256-bit secret
is stored. Audited as key.create by actor "cli".

Options:
      --name NAME         A label, 1 to 64 characters (ci, dashboard…)
      --role ROLE         ${ROLES.join(', ')} (see docs/security.md)
      --scope GRANT       resource=action1,action2: narrow the key to these
                          grants within its role's; repeat for several
      --ttl AGE           The key expires after AGE: 90s, 15m, 12h, 30d, 2w
                          (default: never)
${FOOTER}

Examples:
  flotilla keys create --name ci --role SERVICE --ttl 30d
  flotilla keys create --name nightly --role SERVICE --scope 'workflow:nightly-report=read,start' --scope 'run:*=read'`

/** `flotilla keys create`. */
export const keysCreateCommand: Command = {
  name: 'keys create',
  summary: 'Create an API key and print it once (--name, --role, --scope, --ttl)',
  help: CREATE_HELP,
  flags: CREATE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('keys create', argv, CREATE_FLAGS)
    expectPositionals('keys create', positionals, [])
    const name = values.name as string | undefined
    const role = values.role as string | undefined
    if (name === undefined || role === undefined)
      throw usageError('keys create', '"flotilla keys create" needs --name and --role, as in --name ci --role SERVICE.')
    const scopes = ((values.scope as string[] | undefined) ?? []).map((s) => parseScope('keys create', s))
    const ttl = values.ttl as string | undefined
    const ttlMs = ttl === undefined ? undefined : parseAge('keys create', '--ttl', ttl)
    return withSecurity(values.store, false, io, async (sec) => {
      const issued = await sec.keys.create({
        name,
        role: role as (typeof ROLES)[number],
        ...(scopes.length === 0 ? {} : { scopes }),
        ...(ttlMs === undefined ? {} : { ttlMs }),
        by: 'cli',
      })
      const { info } = issued
      await sec.record({
        action: 'key.create',
        resource: `key:${info.id}`,
        outcome: 'succeeded',
        details: { name: info.name, role: info.role },
      })
      if (values.json === true) io.out.write(`${JSON.stringify({ ok: true, ...issued }, null, 2)}\n`)
      else
        showIssued(
          io,
          issued,
          `Created API key ${info.id} "${info.name}" (${info.role}${info.scopes === null ? '' : `, scopes ${scopesText(info.scopes)}`}${
            info.expiresAt === null ? '' : `, expires ${formatDateTime(info.expiresAt)}`
          }) in ${sec.label}:`,
        )
      return 0
    })
  },
}

const LIST_HELP = `Usage: flotilla keys list [options]

Lists the API keys of the store, oldest first: id, name, role, scopes,
state (active, rotating: the old secret still works for a while, expired,
revoked), creation, expiry and last use. Never a secret: only hashes are
stored.

Options:
${FOOTER}`

/** `flotilla keys list`. */
export const keysListCommand: Command = {
  name: 'keys list',
  summary: 'List the API keys (never their secrets)',
  help: LIST_HELP,
  flags: STORE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('keys list', argv, STORE_FLAGS)
    expectPositionals('keys list', positionals, [])
    return withSecurity(values.store, true, io, async (sec) => {
      const keys = await sec.keys.list()
      if (values.json === true) {
        io.out.write(`${JSON.stringify(keys, null, 2)}\n`)
        return 0
      }
      if (keys.length === 0) {
        io.out.write(`No API keys in ${sec.label}. Create one with: flotilla keys create --name NAME --role ROLE\n`)
        return 0
      }
      const now = Date.now()
      const rows = keys.map((k) => [
        k.id,
        k.name,
        k.role,
        keyState(k, now),
        formatDateTime(k.createdAt),
        k.expiresAt === null ? 'never' : formatDateTime(k.expiresAt),
        k.lastUsedAt === null ? 'never' : formatDateTime(k.lastUsedAt),
        scopesText(k.scopes),
      ])
      io.out.write(formatTable(['ID', 'NAME', 'ROLE', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED', 'SCOPES'], rows))
      return 0
    })
  },
}

const ROTATE_FLAGS = { ...STORE_FLAGS, grace: { type: 'string' } } as const

const ROTATE_HELP = `Usage: flotilla keys rotate <key-id> [--grace AGE] [options]

Gives a key a new secret (same id, role and scopes) and prints it once.
The old secret stops working at once, or after the grace period, so that
clients can switch over. Audited as key.rotate by actor "cli".

Options:
      --grace AGE         The old secret keeps working this long: 90s, 15m,
                          1h, 2d (default: 0s, it stops at once)
${FOOTER}

Example:
  flotilla keys rotate k3x9… --grace 1h`

/** `flotilla keys rotate <id>`. */
export const keysRotateCommand: Command = {
  name: 'keys rotate',
  summary: 'Give a key a new secret; the old one works for --grace more',
  help: ROTATE_HELP,
  flags: ROTATE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('keys rotate', argv, ROTATE_FLAGS)
    const [id] = expectPositionals('keys rotate', positionals, ['key-id'])
    if (id === undefined)
      throw usageError('keys rotate', 'Name the key, as in "flotilla keys rotate <key-id>" (see "flotilla keys list").')
    const grace = values.grace as string | undefined
    const graceMs = grace === undefined ? 0 : parseAge('keys rotate', '--grace', grace)
    return withSecurity(values.store, true, io, async (sec) => {
      const issued = await sec.keys.rotate(id, { graceMs, by: 'cli' })
      await sec.record({ action: 'key.rotate', resource: `key:${id}`, outcome: 'succeeded', details: { graceMs } })
      if (values.json === true) io.out.write(`${JSON.stringify({ ok: true, ...issued }, null, 2)}\n`)
      else {
        const until = issued.info.previousValidUntil
        showIssued(
          io,
          issued,
          `New secret for API key ${id} "${issued.info.name}" (${issued.info.role}); the old one ${
            until === null ? 'no longer works' : `works until ${formatDateTime(until)}`
          }:`,
        )
      }
      return 0
    })
  },
}

const REVOKE_HELP = `Usage: flotilla keys revoke <key-id> [options]

Revokes a key at once (and a rotated-out secret still in its grace period).
Revoking twice keeps the first time. Audited as key.revoke by actor "cli".

Options:
${FOOTER}`

/** `flotilla keys revoke <id>`. */
export const keysRevokeCommand: Command = {
  name: 'keys revoke',
  summary: 'Revoke a key at once',
  help: REVOKE_HELP,
  flags: STORE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('keys revoke', argv, STORE_FLAGS)
    const [id] = expectPositionals('keys revoke', positionals, ['key-id'])
    if (id === undefined)
      throw usageError('keys revoke', 'Name the key, as in "flotilla keys revoke <key-id>" (see "flotilla keys list").')
    return withSecurity(values.store, true, io, async (sec) => {
      const info = await sec.keys.revoke(id)
      await sec.record({ action: 'key.revoke', resource: `key:${id}`, outcome: 'succeeded' })
      if (values.json === true) io.out.write(`${JSON.stringify({ ok: true, key: info }, null, 2)}\n`)
      else io.out.write(`API key ${id} "${info.name}" is revoked (since ${formatDateTime(info.revokedAt ?? 0)}).\n`)
      return 0
    })
  },
}

const SUBCOMMANDS: readonly Command[] = [keysCreateCommand, keysListCommand, keysRotateCommand, keysRevokeCommand]

/** `flotilla keys <subcommand>`: API keys of the HTTP API, managed on the store directly. */
export const keysCommand: Command = {
  name: 'keys',
  summary: 'Manage the API keys of "flotilla serve": create, list, rotate, revoke',
  help: `Usage: flotilla keys <subcommand> [options]

Manages the API keys of the HTTP API directly in the store (no server
needed): whoever can open the store can manage its keys. Every change is
written to the audit log with actor "cli".

Subcommands:
${SUBCOMMANDS.map((c) => `  ${c.name.slice(5).padEnd(8)}   ${c.summary}`).join('\n')}

Examples:
  flotilla keys create --name ci --role SERVICE --ttl 30d
  flotilla keys list
  flotilla keys rotate <key-id> --grace 1h
  flotilla keys revoke <key-id>`,
  flags: STORE_FLAGS,
  subcommands: SUBCOMMANDS,
  execute() {
    return Promise.reject(usageError('keys', '"flotilla keys" needs a subcommand: create, list, rotate, revoke.'))
  },
}
