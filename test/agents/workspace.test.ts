import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isFlotillaError, type FlotillaError } from '../../src/core/errors.js'
import type { AgentEvent } from '../../src/agents/agent-event.js'
import { FolderWorkspace, type FolderWorkspaceOptions } from '../../src/agents/workspace.js'
import { PermissionSet, type Permission } from '../../src/security/permissions.js'

const ALL: Permission[] = [
  { resource: 'file:**', actions: ['*'] },
  { resource: 'file:.', actions: ['list'] },
]

let base: string
let root: string
let events: AgentEvent[]
let limits: FlotillaError[]

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'flotilla-ws-'))
  root = join(base, 'ws')
  events = []
  limits = []
})
afterEach(() => rmSync(base, { recursive: true, force: true }))

function open(permissions: Permission[] = ALL, over: Partial<FolderWorkspaceOptions> = {}): Promise<FolderWorkspace> {
  return FolderWorkspace.open({
    root,
    permissions: new PermissionSet(permissions),
    agent: 'tester',
    onEvent: (e) => events.push(e),
    onLimitExceeded: (e) => limits.push(e),
    ...over,
  })
}

async function failure(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p
  } catch (e) {
    if (isFlotillaError(e)) return e
    throw e
  }
  throw new Error('expected a failure')
}

describe('FolderWorkspace paths', () => {
  it('creates the folder, writes, reads, lists recursively and removes files', async () => {
    const ws = await open()
    expect(existsSync(root)).toBe(true)
    await ws.write('a.txt', 'alpha')
    await ws.write('deep/er/b.bin', new Uint8Array([1, 2, 3]))
    expect(await ws.readText('a.txt')).toBe('alpha')
    expect(Array.from(await ws.read('deep/er/b.bin'))).toEqual([1, 2, 3])
    expect(await ws.list()).toEqual(['a.txt', 'deep/er/b.bin'])
    expect(await ws.list('deep')).toEqual(['deep/er/b.bin'])
    await ws.remove('a.txt')
    expect(await ws.list('.')).toEqual(['deep/er/b.bin'])
    expect(readFileSync(join(root, 'deep/er/b.bin'))).toEqual(Buffer.from([1, 2, 3]))
  })

  it('normalises paths (./, .., trailing / and \\) before checking them', async () => {
    const ws = await open([{ resource: 'file:data/*', actions: ['write', 'read'] }])
    await ws.write('./data/x/../a.txt', 'ok')
    expect(await ws.readText('data\\a.txt')).toBe('ok')
    expect(existsSync(join(root, 'data/a.txt'))).toBe(true)
  })

  it.each([
    ['../outside.txt', 'leads out'],
    ['data/../../outside.txt', 'leads out'],
    ['..', 'leads out'],
    ['/etc/passwd', 'absolute'],
  ])('refuses %s, which leaves the root, with PERMISSION_DENIED and an event', async (path, why) => {
    const ws = await open()
    const e = await failure(ws.read(path))
    expect(e.code).toBe('PERMISSION_DENIED')
    expect(e.message).toContain(why)
    expect(events).toEqual([
      {
        type: 'permission.denied',
        data: expect.objectContaining({ agent: 'tester', resource: `file:${path}`, action: 'read' }),
      },
    ])
    expect(await failure(ws.write(path, 'x'))).toMatchObject({ code: 'PERMISSION_DENIED' })
  })

  it('refuses symbolic links that lead outside the root, for reading and writing, but follows those inside', async () => {
    writeFileSync(join(base, 'secret.txt'), 'secret')
    mkdirSync(join(base, 'elsewhere'))
    const ws = await open()
    symlinkSync(join(base, 'secret.txt'), join(root, 'link.txt'))
    symlinkSync(join(base, 'elsewhere'), join(root, 'dir'))
    expect(await failure(ws.readText('link.txt'))).toMatchObject({ code: 'PERMISSION_DENIED' })
    expect(await failure(ws.write('link.txt', 'overwritten'))).toMatchObject({ code: 'PERMISSION_DENIED' })
    expect(await failure(ws.write('dir/new.txt', 'x'))).toMatchObject({ code: 'PERMISSION_DENIED' })
    expect(readFileSync(join(base, 'secret.txt'), 'utf8')).toBe('secret')
    expect(existsSync(join(base, 'elsewhere/new.txt'))).toBe(false)
    await ws.write('real.txt', 'inside')
    symlinkSync(join(root, 'real.txt'), join(root, 'alias.txt'))
    expect(await ws.readText('alias.txt')).toBe('inside')
    expect(events.filter((e) => e.type === 'permission.denied')).toHaveLength(3)
  })

  it.each([[''], ['a\0b']])('refuses the malformed path %j with VALIDATION_FAILED', async (path) => {
    const ws = await open()
    expect((await failure(ws.read(path))).code).toBe('VALIDATION_FAILED')
  })

  it('reports missing files as FILE_NOT_FOUND and folders used as files as VALIDATION_FAILED', async () => {
    const ws = await open()
    await ws.write('d/f.txt', 'x')
    expect((await failure(ws.read('nope.txt'))).code).toBe('FILE_NOT_FOUND')
    expect((await failure(ws.remove('nope.txt'))).code).toBe('FILE_NOT_FOUND')
    expect((await failure(ws.list('nope'))).code).toBe('FILE_NOT_FOUND')
    expect((await failure(ws.read('d'))).code).toBe('VALIDATION_FAILED')
    expect((await failure(ws.remove('d'))).code).toBe('VALIDATION_FAILED')
    expect((await failure(ws.write('d', 'x'))).code).toBe('VALIDATION_FAILED')
    expect((await failure(ws.write('d/f.txt/g', 'x'))).code).toBe('VALIDATION_FAILED')
  })
})

describe('FolderWorkspace permissions', () => {
  it('checks file:<path> for read, write and delete, and the folder for list (file:. for the root)', async () => {
    const ws = await open([
      { resource: 'file:in/**', actions: ['read'] },
      { resource: 'file:out/*', actions: ['write', 'delete'] },
      { resource: 'file:out', actions: ['list'] },
    ])
    mkdirSync(join(root, 'in'))
    writeFileSync(join(root, 'in/a.txt'), 'A')
    expect(await ws.readText('in/a.txt')).toBe('A')
    await ws.write('out/b.txt', 'B')
    expect(await ws.list('out')).toEqual(['out/b.txt'])
    await ws.remove('out/b.txt')
    const denied: [Promise<unknown>, string, string][] = [
      [ws.write('in/a.txt', 'x'), 'file:in/a.txt', 'write'],
      [ws.readText('out/b.txt'), 'file:out/b.txt', 'read'],
      [ws.remove('in/a.txt'), 'file:in/a.txt', 'delete'],
      [ws.list('in'), 'file:in', 'list'],
      [ws.list(), 'file:.', 'list'],
      [ws.write('out/sub/c.txt', 'x'), 'file:out/sub/c.txt', 'write'],
    ]
    for (const [p, resource, action] of denied) {
      const e = await failure(p)
      expect(e.code).toBe('PERMISSION_DENIED')
      expect(e.details).toMatchObject({ resource, action, agent: 'tester' })
    }
    // writes and removes queue behind each other, so their events may come later than reads: compare as sets
    const key = (r: unknown, a: unknown): string => `${String(a)} ${String(r)}`
    expect(events.map((e) => key(e.data.resource, e.data.action)).sort()).toEqual(
      denied.map(([, r, a]) => key(r, a)).sort(),
    )
  })
})

describe('FolderWorkspace storage quota', () => {
  it('is one budget for every workspace sharing the folder (a parent and its children)', async () => {
    const quota = { storageMb: 4000 / (1024 * 1024) } // 4000 bytes
    const parent = await open(ALL, quota)
    const child = await open(ALL, quota)
    await child.write('child.txt', 'c'.repeat(3000))
    const e = await failure(parent.write('parent.txt', 'p'.repeat(3000)))
    expect(e.code).toBe('RESOURCE_LIMIT_EXCEEDED')
    expect(existsSync(join(root, 'parent.txt'))).toBe(false)
    expect(await parent.usage()).toBe(3000) // counts what the child wrote
  })

  it('counts the bytes already there when it opens', async () => {
    mkdirSync(join(root, 'sub'), { recursive: true })
    writeFileSync(join(root, 'a'), 'x'.repeat(100))
    writeFileSync(join(root, 'sub/b'), 'y'.repeat(50))
    const ws = await open()
    expect(await ws.usage()).toBe(150)
  })

  it('refuses a write that would go over storageMb before writing, and reports it', async () => {
    const ws = await open(ALL, { storageMb: 1000 / (1024 * 1024) }) // 1000 bytes
    await ws.write('a.txt', 'x'.repeat(600))
    const e = await failure(ws.write('b.txt', 'y'.repeat(500)))
    expect(e.code).toBe('RESOURCE_LIMIT_EXCEEDED')
    expect(e.details).toMatchObject({ limit: 'storage', limitBytes: 1000, usedBytes: 600, requestedBytes: 500 })
    expect(limits).toEqual([e])
    expect(existsSync(join(root, 'b.txt'))).toBe(false)
    expect(await ws.usage()).toBe(600)
  })

  it('counts an overwrite by its difference and frees what remove deletes', async () => {
    const ws = await open(ALL, { storageMb: 1000 / (1024 * 1024) })
    await ws.write('a.txt', 'x'.repeat(900))
    await ws.write('a.txt', 'x'.repeat(950)) // replaces 900 bytes: 950 in all
    expect(ws.usedBytes).toBe(950)
    await ws.remove('a.txt')
    expect(ws.usedBytes).toBe(0)
    await ws.write('b.txt', 'y'.repeat(1000))
    expect(ws.usedBytes).toBe(1000)
    expect(limits).toEqual([])
  })

  it('keeps an exact count under concurrent writes', async () => {
    const ws = await open(ALL, { storageMb: 10_000 / (1024 * 1024) })
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => ws.write(`f${i % 7}.txt`, 'z'.repeat(1000 + i))),
    )
    const onDisk = Array.from({ length: 7 }, (_, i) =>
      existsSync(join(root, `f${i}.txt`)) ? readFileSync(join(root, `f${i}.txt`)).length : 0,
    ).reduce((a, b) => a + b, 0)
    expect(ws.usedBytes).toBe(onDisk)
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true)
    expect(onDisk).toBeLessThanOrEqual(10_000)
  })

  it('applies a new limit live', async () => {
    const ws = await open()
    await ws.write('a.txt', 'x'.repeat(2000))
    ws.setStorageLimit(1000 / (1024 * 1024))
    expect((await failure(ws.write('b.txt', 'y'))).code).toBe('RESOURCE_LIMIT_EXCEEDED')
    ws.setStorageLimit(undefined)
    await ws.write('b.txt', 'y')
  })
})
