import type { AuditEntry, AuditFilter } from '../security/audit.js'
import { expectPositionals, parseAge, splitArgs, usageError } from './args.js'
import { STORE_FLAGS, type Command } from './command.js'
import type { CliIO } from './execute-run.js'
import { formatDateTime, formatTable } from './format.js'
import { openCliSecurity, warnNotDurable, type CliSecurity } from './security-cli.js'
import { STORE_HELP } from './store-option.js'

const FOOTER = `${STORE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help`

async function withAudit<T>(flag: unknown, io: CliIO, fn: (sec: CliSecurity) => Promise<T>): Promise<T> {
  const sec = await openCliSecurity(flag as string | undefined, { readOnlyIfMissing: true })
  try {
    warnNotDurable(sec, io)
    return await fn(sec)
  } finally {
    await sec.close()
  }
}

/**
 * `--since`: an age back from now (`90s`, `15m`, `12h`, `30d`, `2w`) or a
 * date and time `Date.parse` reads (`2025-06-01`, `2025-06-01T12:00:00Z`),
 * as epoch ms; anything else is `CLI_USAGE`.
 */
export function parseSince(command: string, text: string, now = Date.now()): number {
  if (/^\d+[smhdw]$/.test(text.trim())) return now - parseAge(command, '--since', text)
  const at = Date.parse(text)
  if (Number.isNaN(at))
    throw usageError(
      command,
      `--since expects an age (90s, 15m, 12h, 30d, 2w) or a date (2025-06-01, 2025-06-01T12:00:00Z); got "${text}".`,
    )
  return at
}

const LIST_FLAGS = {
  ...STORE_FLAGS,
  actor: { type: 'string' },
  action: { type: 'string' },
  resource: { type: 'string' },
  since: { type: 'string' },
  after: { type: 'string' },
  limit: { type: 'string' },
} as const

const LIST_HELP = `Usage: flotilla audit list [options]

Lists entries of the audit log, oldest first: sequence number, time, actor
(key:<id>, cli, serve, threat-detection, ip:<address>), action (key.create,
auth.fail, run.start, block.create…), resource, outcome and request id.

Options:
      --actor ACTOR       Only entries of this actor
      --action ACTION     Only this action
      --resource NAME     Only entries on this resource (key:<id>, run:<id>…)
      --since WHEN        Only entries since an age back (15m, 12h, 30d) or a
                          date (2025-06-01, 2025-06-01T12:00:00Z)
      --after SEQ         Only entries after this sequence number (next page)
      --limit N           Most entries listed (default 100, at most 1000)
      --json              Print the entries as a JSON array (with hashes)
${FOOTER}

Examples:
  flotilla audit list --since 1h
  flotilla audit list --action auth.fail --json`

/** `flotilla audit list`. */
export const auditListCommand: Command = {
  name: 'audit list',
  summary: 'List audit entries (--actor, --action, --resource, --since, --limit)',
  help: LIST_HELP,
  flags: LIST_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('audit list', argv, LIST_FLAGS)
    expectPositionals('audit list', positionals, [])
    const whole = (flag: 'limit' | 'after', min: number, max: number): number | undefined => {
      const text = values[flag] as string | undefined
      if (text === undefined) return undefined
      const n = /^\d+$/.test(text) ? Number(text) : NaN
      if (!(n >= min && n <= max))
        throw usageError('audit list', `--${flag} must be a whole number from ${min} to ${max}.`)
      return n
    }
    const limit = whole('limit', 1, 1000) ?? 100
    const after = whole('after', 0, Number.MAX_SAFE_INTEGER)
    const since = values.since === undefined ? undefined : parseSince('audit list', values.since as string)
    const filter: AuditFilter = {
      limit,
      ...(values.actor === undefined ? {} : { actor: values.actor as string }),
      ...(values.action === undefined ? {} : { action: values.action as string }),
      ...(values.resource === undefined ? {} : { resource: values.resource as string }),
      ...(since === undefined ? {} : { since }),
      ...(after === undefined ? {} : { afterSeq: after }),
    }
    return withAudit(values.store, io, async (sec) => {
      const entries = await sec.audit.query(filter)
      if (values.json === true) {
        io.out.write(`${JSON.stringify(entries, null, 2)}\n`)
        return 0
      }
      if (entries.length === 0) {
        io.out.write(`No audit entries${Object.keys(filter).length > 1 ? ' match' : ''} in ${sec.label}.\n`)
        return 0
      }
      io.out.write(
        formatTable(
          ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'RESOURCE', 'OUTCOME', 'REQUEST'],
          entries.map((e) => [
            String(e.seq),
            formatDateTime(e.at),
            e.actor,
            e.action,
            e.resource,
            e.outcome,
            e.requestId ?? '–',
          ]),
        ),
      )
      const last = entries.at(-1) as AuditEntry
      if (entries.length === limit) io.out.write(`(the first ${limit}; next page: --after ${last.seq})\n`)
      return 0
    })
  },
}

const VERIFY_FLAGS = { ...STORE_FLAGS, head: { type: 'string' } } as const

const VERIFY_HELP = `Usage: flotilla audit verify [--head HASH] [options]

Walks the hash chain of the audit log: every entry holds the hash of the
one before, so a changed, removed or inserted entry breaks the chain. Exit 0
when the chain is whole; exit 1 naming the first broken entry (its sequence
number, the kind of break and a message).

It prints the head hash (the hash of the last entry): keep it somewhere
the store's writers cannot reach. Someone who can rewrite the whole table can
recompute every hash; --head checks that the chain still holds an entry
with a head you kept, so such a rewrite is found too.

Options:
      --head HASH         A head hash printed earlier: exit 1 unless an entry
                          of the chain has it
      --json              Print the result as JSON
${FOOTER}

Example:
  flotilla audit verify --head 3f9a…`

async function holdsHash(sec: CliSecurity, hash: string): Promise<AuditEntry | undefined> {
  for (let after = 0; ; ) {
    const page = await sec.audit.query({ afterSeq: after, limit: 1000 })
    if (page.length === 0) return undefined
    const hit = page.find((e) => e.hash === hash)
    if (hit !== undefined) return hit
    after = (page.at(-1) as AuditEntry).seq
  }
}

/** `flotilla audit verify`. */
export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: 'Check the hash chain of the audit log; print its head hash',
  help: VERIFY_HELP,
  flags: VERIFY_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('audit verify', argv, VERIFY_FLAGS)
    expectPositionals('audit verify', positionals, [])
    const head = (values.head as string | undefined)?.trim().toLowerCase()
    if (head !== undefined && !/^[0-9a-f]{64}$/.test(head))
      throw usageError('audit verify', '--head expects a hash printed by "flotilla audit verify": 64 hex digits.')
    return withAudit(values.store, io, async (sec) => {
      const result = await sec.audit.verify()
      const kept = result.ok && head !== undefined ? await holdsHash(sec, head) : undefined
      const headMissing = result.ok && head !== undefined && kept === undefined
      if (values.json === true) {
        const headCheck = head === undefined ? {} : { headFound: kept === undefined ? false : kept.seq }
        io.out.write(`${JSON.stringify({ ...result, ...headCheck }, null, 2)}\n`)
      } else if (!result.ok && result.problem !== undefined) {
        const p = result.problem
        io.out.write(`Audit log of ${sec.label} is BROKEN at entry ${p.seq} (${p.kind}): ${p.message}\n`)
        io.out.write(`${result.checked} entries before it are intact; the last of them has hash ${result.head}.\n`)
      } else {
        io.out.write(`Audit log of ${sec.label} is intact: ${result.checked} entries checked.\n`)
        io.out.write(`head ${result.checked} ${result.head}\n`)
        if (headMissing)
          io.out.write(
            `BROKEN: no entry has the head ${head} you kept: the log was rewritten (or it is another store's).\n`,
          )
        else if (kept !== undefined) io.out.write(`The head you kept is entry ${kept.seq}: the chain still holds it.\n`)
        else io.out.write('Keep the head hash where the store cannot be written, and pass it to --head next time.\n')
      }
      return result.ok && !headMissing ? 0 : 1
    })
  },
}

const SUBCOMMANDS: readonly Command[] = [auditListCommand, auditVerifyCommand]

/** `flotilla audit <subcommand>`: read and check the audit log of the store. */
export const auditCommand: Command = {
  name: 'audit',
  summary: 'Read and check the hash-chained audit log: list, verify',
  help: `Usage: flotilla audit <subcommand> [options]

Reads the audit log of the store directly (no server needed): every key
change, failed authentication, denial, block and state-changing API call,
chained by hashes so that a change is detected.

Subcommands:
${SUBCOMMANDS.map((c) => `  ${c.name.slice(6).padEnd(6)}   ${c.summary}`).join('\n')}

Examples:
  flotilla audit list --since 1h
  flotilla audit verify`,
  flags: STORE_FLAGS,
  subcommands: SUBCOMMANDS,
  execute() {
    return Promise.reject(usageError('audit', '"flotilla audit" needs a subcommand: list, verify.'))
  },
}
