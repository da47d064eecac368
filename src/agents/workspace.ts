/**
 * An agent's workspace: a real folder whose files the agent reaches through
 * `ctx.workspace`, each access checked against its `file:<path>` permissions
 * and each write against its storage quota.
 */
import { lstat, mkdir, readdir, readFile, realpath, unlink, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute as isAbsoluteNative, join, posix, sep } from 'node:path'
import { FlotillaError } from '../core/errors.js'
import type { PermissionSet } from '../security/permissions.js'
import { defaultAuthorizer, type Action, type Authorizer, type Decision } from '../security/authorizer.js'
import { deniedEvent, type AgentEventSink } from './agent-event.js'
import type { Workspace } from './context.js'

/** Options of {@link FolderWorkspace.open}. */
export interface FolderWorkspaceOptions {
  /** Absolute path of the folder; created when missing. */
  root: string
  /** The agent's permissions; file access needs `file:<relative path>` grants. */
  permissions: PermissionSet
  /** Name of the agent, for messages and events. */
  agent: string
  /** Most megabytes the folder may hold (1 MB = 1,048,576 bytes). @default unlimited */
  storageMb?: number
  /** Receives `permission.denied` events. @default none */
  onEvent?: AgentEventSink
  /** Called (once per refused write) when a write would take the folder over its quota; the runtime stops the agent. @default none */
  onLimitExceeded?: (error: FlotillaError) => void
  /** Makes the permission decisions. @default the shared default authorizer */
  authorizer?: Authorizer
}

/** A path of the workspace, as checked: its permission name and where it is on disk. */
interface Resolved {
  /** Normalised path relative to the root (`.` for the root itself). */
  readonly rel: string
  readonly abs: string
}

const MB = 1024 * 1024

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code
}

/**
 * The {@link Workspace} of one agent over a real folder.
 *
 * Paths are relative to the root, use `/`, and are normalised (`a/./b/../c`
 * is `a/c`; `\` counts as `/`). A path that leaves the root (`..` above it,
 * an absolute path, or a symbolic link resolving outside it) is refused with
 * `PERMISSION_DENIED` and a `permission.denied` event, like every other access
 * outside the agent's grants; an empty or NUL-holding path is
 * `VALIDATION_FAILED`. Each access checks the resource `file:<normalised
 * path>` for `read`, `write`, `delete`, or `list` (on the folder listed:
 * `file:data` for `list('data')`, `file:.` for the root).
 *
 * Storage: the bytes of the files (apparent sizes, not disk blocks) are
 * counted when the workspace opens, then kept up to date by every write and
 * remove made through it. A folder may be shared (children work in their
 * parent's workspace), so with a quota each write first counts the folder
 * again from disk, and {@link FolderWorkspace.usage} always does: the quota
 * is one budget for everyone writing there. A write that would take the total over
 * `storageMb` fails with `RESOURCE_LIMIT_EXCEEDED` before anything is
 * written, and `onLimitExceeded` is told. Writes and removes are applied one
 * at a time so the count stays exact. Files changed behind the workspace's
 * back (plain `fs` calls by agent code) are not counted: the workspace is a
 * permission layer for agent code that uses it, not an OS sandbox.
 *
 * @example
 * ```ts
 * const ws = await FolderWorkspace.open({ root: '/tmp/agt_1', agent: 'scanner', permissions: new PermissionSet([{ resource: 'file:**', actions: ['*'] }]), storageMb: 10 })
 * await ws.write('out/report.txt', 'ok')
 * await ws.list('out') // ['out/report.txt']
 * ```
 */
export class FolderWorkspace implements Workspace {
  readonly root: string
  private used: number
  private quota: number | undefined
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    private readonly options: FolderWorkspaceOptions,
    private readonly realRoot: string,
    used: number,
  ) {
    this.root = options.root
    this.used = used
    this.quota = options.storageMb === undefined ? undefined : Math.floor(options.storageMb * MB)
  }

  /** Creates the folder when missing and counts the bytes it holds. */
  static async open(options: FolderWorkspaceOptions): Promise<FolderWorkspace> {
    if (!isAbsoluteNative(options.root)) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `A workspace root must be an absolute path, got "${options.root}".`,
        { details: { root: options.root } },
      )
    }
    await mkdir(options.root, { recursive: true })
    const real = await realpath(options.root)
    return new FolderWorkspace(options, real, await folderBytes(real))
  }

  /** Bytes held now, as counted (synchronous). */
  get usedBytes(): number {
    return this.used
  }

  /** Changes the storage quota (`undefined`: unlimited); files already over it stay, further writes fail. */
  setStorageLimit(storageMb: number | undefined): void {
    this.quota = storageMb === undefined ? undefined : Math.floor(storageMb * MB)
  }

  async read(path: string): Promise<Uint8Array> {
    const at = await this.resolve(path, 'read')
    try {
      return await readFile(at.abs)
    } catch (e) {
      throw this.fsError(e, at, 'read')
    }
  }

  async readText(path: string): Promise<string> {
    return Buffer.from(await this.read(path)).toString('utf8')
  }

  write(path: string, data: string | Uint8Array): Promise<void> {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      return Promise.reject(
        new FlotillaError('VALIDATION_FAILED', `workspace.write("${String(path)}") needs a string or a Uint8Array.`, {
          details: { path: String(path) },
        }),
      )
    }
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
    return this.serial(async () => {
      const at = await this.resolve(path, 'write')
      if (at.rel === '.') throw this.invalid(path, 'names the workspace folder itself, not a file')
      const before = await sizeOf(at.abs)
      if (before === 'dir') throw this.invalid(path, 'is a folder')
      if (this.quota !== undefined) this.used = await folderBytes(this.realRoot) // others may write here too
      const after = this.used - before + bytes
      if (this.quota !== undefined && after > this.quota) throw this.overQuota(at.rel, bytes, after)
      try {
        await mkdir(dirname(at.abs), { recursive: true })
        await writeFile(at.abs, data)
        this.used = after
      } catch (e) {
        const now = await sizeOf(at.abs)
        this.used += (now === 'dir' ? 0 : now) - before
        throw this.fsError(e, at, 'write')
      }
    })
  }

  async list(path = '.'): Promise<string[]> {
    const at = await this.resolve(path === '' ? '.' : path, 'list')
    const out: string[] = []
    try {
      await walk(at.abs, at.rel === '.' ? '' : `${at.rel}/`, (rel) => {
        out.push(rel)
      })
    } catch (e) {
      throw this.fsError(e, at, 'list')
    }
    return out.sort()
  }

  remove(path: string): Promise<void> {
    return this.serial(async () => {
      const at = await this.resolve(path, 'delete')
      const size = await sizeOf(at.abs)
      if (size === 'dir' || at.rel === '.') throw this.invalid(path, 'is a folder; remove deletes files')
      try {
        await unlink(at.abs)
      } catch (e) {
        throw this.fsError(e, at, 'delete')
      }
      this.used -= size
    })
  }

  /** Bytes the folder holds now, counted from disk (a shared folder's other writers included). */
  usage(): Promise<number> {
    return this.serial(async () => (this.used = await folderBytes(this.realRoot)))
  }

  /** Runs mutations one after another, so the byte count is never computed from a stale size. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => undefined)
    return next
  }

  /** Normalises `path`, checks the permission, then that it stays inside the root on disk. */
  private async resolve(path: string, action: string): Promise<Resolved> {
    if (typeof path !== 'string' || path.length === 0)
      throw this.invalid(String(path), 'is empty; give a path relative to the workspace')
    if (path.includes('\0')) throw this.invalid(path.replace(/\0/g, '\\0'), 'holds a NUL character')
    const slashed = path.replace(/\\/g, '/')
    if (slashed.startsWith('/') || isAbsoluteNative(path))
      throw this.outside(path, action, 'it is absolute; workspace paths are relative to its root')
    const rel = posix.normalize(slashed).replace(/\/+$/, '') || '.'
    if (rel === '..' || rel.startsWith('../')) throw this.outside(path, action, 'it leads out of the workspace')
    this.authorizer.authorize(this.principal, { kind: 'file', path: rel }, action as Action, this.onDenied)
    const abs = rel === '.' ? this.realRoot : join(this.realRoot, ...rel.split('/'))
    await this.checkInside(abs, path, action)
    return { rel, abs }
  }

  /** Refuses a path whose nearest existing part resolves (through symbolic links) outside the root. */
  private async checkInside(abs: string, path: string, action: string): Promise<void> {
    let probe = abs
    for (;;) {
      try {
        const real = await realpath(probe)
        if (real !== this.realRoot && !real.startsWith(this.realRoot + sep))
          throw this.outside(path, action, 'a symbolic link leads out of the workspace')
        return
      } catch (e) {
        if (errno(e) !== 'ENOENT' && errno(e) !== 'ENOTDIR') throw e
        const parent = join(probe, '..')
        if (parent === probe || probe === this.realRoot) return
        probe = parent
      }
    }
  }

  private outside(path: string, action: string, why: string): FlotillaError {
    return this.authorizer.deny(this.principal, { kind: 'file', path }, action as Action, why, this.onDenied)
  }

  private get authorizer(): Authorizer {
    return this.options.authorizer ?? defaultAuthorizer
  }

  private get principal(): { name: string; permissions: PermissionSet } {
    return { name: this.options.agent, permissions: this.options.permissions }
  }

  /** Reports a denial as the agent's `permission.denied` event. */
  private readonly onDenied = (d: Decision): void =>
    this.options.onEvent?.(deniedEvent(this.options.agent, d.resource, d.action, d.reason))

  private invalid(path: string, why: string): FlotillaError {
    return new FlotillaError('VALIDATION_FAILED', `Workspace path "${path}" ${why}.`, { details: { path } })
  }

  private overQuota(rel: string, bytes: number, after: number): FlotillaError {
    const limitBytes = this.quota ?? 0
    const error = new FlotillaError(
      'RESOURCE_LIMIT_EXCEEDED',
      `${this.options.agent} may not write ${bytes} bytes to "${rel}": the workspace would hold ${after} bytes, over its storage limit of ${limitBytes} bytes (${limitBytes / MB} MB). Raise limits.storageMb or remove files first.`,
      {
        details: {
          agent: this.options.agent,
          limit: 'storage',
          limitBytes,
          usedBytes: this.used,
          requestedBytes: bytes,
          path: rel,
        },
      },
    )
    this.options.onLimitExceeded?.(error)
    return error
  }

  private fsError(e: unknown, at: Resolved, action: string): FlotillaError {
    const code = errno(e)
    if (code === 'ENOENT' || (code === 'ENOTDIR' && action !== 'write')) {
      return new FlotillaError(
        'FILE_NOT_FOUND',
        `${this.options.agent} cannot ${action} "${at.rel}": no such file in the workspace.`,
        { details: { path: at.rel, action } },
      )
    }
    if (code === 'EISDIR') return this.invalid(at.rel, 'is a folder')
    if (code === 'ENOTDIR' || code === 'EEXIST')
      return this.invalid(at.rel, 'goes through a file as if it were a folder')
    return new FlotillaError(
      'INTERNAL',
      `${this.options.agent} cannot ${action} "${at.rel}": ${(e as Error).message}`,
      { cause: e, details: { path: at.rel, action, errno: code ?? '' } },
    )
  }
}

/** The size of a file (0 when missing), or `'dir'` for a folder; symbolic links count their own size. */
async function sizeOf(abs: string): Promise<number | 'dir'> {
  try {
    const s = await lstat(abs)
    return s.isDirectory() ? 'dir' : s.size
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return 0
    throw e
  }
}

/** Calls `visit` with the relative path of every non-folder entry under `dir` (symbolic links not followed). */
async function walk(
  dir: string,
  prefix: string,
  visit: (rel: string, abs: string) => void | Promise<void>,
): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  for (const entry of entries) {
    const abs = join(dir, entry.name)
    if (entry.isDirectory()) await walk(abs, `${prefix}${entry.name}/`, visit)
    else await visit(`${prefix}${entry.name}`, abs)
  }
}

/** The bytes held by the files under `root`. */
async function folderBytes(root: string): Promise<number> {
  let total = 0
  await walk(root, '', async (_rel, abs) => {
    const size = await sizeOf(abs)
    if (size !== 'dir') total += size
  })
  return total
}
