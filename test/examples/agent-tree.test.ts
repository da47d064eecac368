import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, ROOT, tempDir } from '../cli/run-cli.js'

const EXAMPLE = join(ROOT, 'examples/agent-tree')
const INBOX = join(EXAMPLE, 'inbox')

interface Grant {
  resource: string
  actions: string[]
}
interface TreeNode {
  id: string
  name: string
  parentId: string | null
  state: string
  pid: number | null
  permissions: Grant[]
  limits: Record<string, number>
  children: TreeNode[]
}
interface FileResult {
  file: string
  out: string
  words: number
  lines: number
}
interface PerWorker {
  worker: string
  id: string
  shard: string
  outDir: string
  pid: number
  files: FileResult[]
  words: number
}
interface Output {
  ok: boolean
  workspace: string
  kept: boolean
  tree: TreeNode | null
  report: {
    files: string[]
    perWorker: PerWorker[]
    denied: { worker: string; path: string; code: string }[]
    summary: { path: string; files: number; words: number }
  } | null
  denials: { from: string; agentId: string; name: string; resource: string; action: string; reason: string }[]
  summary: string | null
  escalation: { code?: string; message?: string; excess?: { resource: string; action: string }[]; deployed?: string }
  usage: {
    coordinator: { state: string; commands: number }
    workers: { name: string; state: string; commands: number; errors: number }[]
    cluster: { agents: number; byState: Record<string, number> }
  } | null
  agents: { id: string; name: string; parentId: string | null; state: string; reason: string | null }[]
  pids: number[]
  files: string[]
  error?: { code: string; message: string }
}

function runExample(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(EXAMPLE, 'run.mjs'), ...args],
      { cwd, timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr })
      },
    )
  })
}

/** True while a process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return true // no /proc: kill(pid, 0) said it exists
  }
}

/**
 * What each inbox file should give, worked out here (not with the example's
 * code): the sorted files go to the shards a, b, c, a, b, c…; the worker
 * of shard x is worker-x and writes the upper-cased text to out/x/<name>.
 */
const names = readdirSync(INBOX).sort()
const expected = names.map((name, i) => {
  const text = readFileSync(join(INBOX, name), 'utf8')
  const shard = 'abc'[i % 3]
  return {
    file: `inbox/${name}`,
    shard,
    worker: `worker-${shard}`,
    out: `out/${shard}/${name}`,
    upper: text.toUpperCase(),
    words: text.split(/\s+/).filter((w) => w.length > 0).length,
    lines: text.replace(/\n$/, '').split('\n').length,
  }
})
const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`
const expectedSummary = [
  `Summary of inbox/ written by the coordinator: ${names.length} files, ${expected.reduce((n, e) => n + e.words, 0)} words`,
  ...expected.map((e) => `${e.file}: ${plural(e.words, 'word')}, ${plural(e.lines, 'line')} (${e.worker} -> ${e.out})`),
  '',
].join('\n')

const tmp = tempDir('flotilla-agent-tree-test-')
beforeAll(() => ensureBuilt())
afterAll(() => tmp.cleanup())

describe('examples/agent-tree', () => {
  it('ships 8 small text files in its inbox', () => {
    expect(names).toHaveLength(8)
    expect(expected.reduce((n, e) => n + e.words, 0)).toBe(232)
    // Uneven shards: 3, 3 and 2 files.
    expect(['a', 'b', 'c'].map((s) => expected.filter((e) => e.shard === s).length)).toEqual([3, 3, 2])
  })

  it('processes every file once, in the worker of its shard, refuses the writes it must, and terminates the tree (--json)', async () => {
    const cwd = join(tmp.dir, 'json')
    mkdirSync(cwd)
    const workspace = join(tmp.dir, 'workspace')
    const r = await runExample(['--json', '--workspace', workspace], cwd)
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as Output
    expect(out.ok).toBe(true)
    expect(out.error).toBeUndefined()
    expect([out.workspace, out.kept]).toEqual([workspace, true])

    // The tree while the workers ran: the coordinator and three children, all running, each in its own process.
    const tree = out.tree!
    expect(tree).toMatchObject({
      name: 'coordinator',
      parentId: null,
      state: 'RUNNING',
      limits: { memoryMb: 256, cpuMs: 60_000, storageMb: 5 },
    })
    expect(tree.permissions).toEqual([
      { resource: 'file:inbox', actions: ['list'] },
      { resource: 'file:inbox/**', actions: ['read'] },
      { resource: 'file:out/**', actions: ['write'] },
    ])
    expect(tree.children.map((c) => [c.name, c.parentId, c.state])).toEqual(
      ['a', 'b', 'c'].map((s) => [`worker-${s}`, tree.id, 'RUNNING']),
    )
    for (const child of tree.children) {
      const shard = child.name.slice('worker-'.length)
      expect(child.permissions).toEqual([
        { resource: 'file:inbox/**', actions: ['read'] },
        { resource: `file:out/${shard}/**`, actions: ['write'] },
      ])
      // Asked for less memory; the rest is the coordinator's.
      expect(child.limits).toEqual({ memoryMb: 128, cpuMs: 60_000, storageMb: 5 })
    }
    const treePids = [tree.pid, ...tree.children.map((c) => c.pid)]
    expect(new Set(treePids).size).toBe(4)
    expect(treePids).not.toContain(null)
    expect(out.pids).toEqual(treePids)

    // Every inbox file processed exactly once, by the worker owning its shard.
    const report = out.report!
    expect(report.files).toEqual(expected.map((e) => e.file))
    expect(report.perWorker.map((w) => [w.worker, w.shard, w.outDir])).toEqual(
      ['a', 'b', 'c'].map((s) => [`worker-${s}`, s, `out/${s}`]),
    )
    for (const w of report.perWorker) {
      const mine = expected.filter((e) => e.worker === w.worker)
      expect(w.files).toEqual(mine.map(({ file, out, words, lines }) => ({ file, out, words, lines })))
      expect(w.words).toBe(mine.reduce((n, e) => n + e.words, 0))
      // It ran in the process the tree lists for it.
      const node = tree.children.find((c) => c.name === w.worker)!
      expect([w.id, w.pid]).toEqual([node.id, node.pid])
    }
    expect(report.perWorker.flatMap((w) => w.files.map((f) => f.file)).sort()).toEqual(expected.map((e) => e.file))

    // The outputs in the workspace: exactly one upper-cased copy per file, in its shard's folder, and the summary.
    expect(out.files).toEqual([
      ...names.map((n) => `inbox/${n}`),
      ...expected.map((e) => e.out).sort(),
      'out/summary.txt',
    ])
    for (const e of expected) expect(readFileSync(join(workspace, e.out), 'utf8')).toBe(e.upper)
    for (const shard of ['a', 'b', 'c']) {
      expect(readdirSync(join(workspace, 'out', shard)).sort()).toEqual(
        expected.filter((e) => e.shard === shard).map((e) => e.out.slice(`out/${shard}/`.length)),
      )
    }

    // worker-c's write of the summary was refused, reported by the worker and on the bus.
    const workerC = tree.children.find((c) => c.name === 'worker-c')!
    expect(report.denied).toEqual([{ worker: 'worker-c', path: 'out/summary.txt', code: 'PERMISSION_DENIED' }])
    expect(out.denials).toHaveLength(1)
    expect(out.denials[0]).toMatchObject({
      from: 'worker-c',
      agentId: workerC.id,
      name: 'worker-c',
      resource: 'file:out/summary.txt',
      action: 'write',
    })
    // The summary is the coordinator's, not the worker's.
    expect(readFileSync(join(workspace, 'out/summary.txt'), 'utf8')).toBe(expectedSummary)
    expect(out.summary).toBe(expectedSummary)
    expect(out.summary).not.toContain('written by a worker')
    expect(report.summary).toEqual({ path: 'out/summary.txt', files: 8, words: 232 })

    // Asking for more than the coordinator holds: refused, naming only the excess.
    expect(out.escalation.code).toBe('PERMISSION_ESCALATION')
    expect(out.escalation.message).toContain('Child "greedy" asks for more than its parent holds: write on "file:**"')
    expect(out.escalation.excess).toEqual([{ resource: 'file:**', action: 'write' }])

    // Usage read before the end: the coordinator running, its workers terminated by it after one command each.
    expect(out.usage!.coordinator).toMatchObject({ state: 'RUNNING', commands: 1 })
    expect(out.usage!.workers).toEqual(
      ['a', 'b', 'c'].map((s) =>
        expect.objectContaining({ name: `worker-${s}`, state: 'TERMINATED', commands: 1, errors: 0 }),
      ),
    )
    expect(out.usage!.cluster).toMatchObject({ agents: 1, byState: { RUNNING: 1, TERMINATED: 3 } })

    // Every agent ended TERMINATED; "greedy" was never recorded.
    expect(out.agents.map((a) => [a.name, a.state])).toEqual([
      ['coordinator', 'TERMINATED'],
      ['worker-a', 'TERMINATED'],
      ['worker-b', 'TERMINATED'],
      ['worker-c', 'TERMINATED'],
    ])
    for (const a of out.agents.slice(1))
      expect([a.parentId, a.reason]).toEqual([tree.id, `terminated by parent ${tree.id}`])

    // No agent process outlives the example, and nothing was written to the current folder.
    expect(out.pids.filter(alive)).toEqual([])
    expect(readdirSync(cwd)).toEqual([])
  })

  it('prints a readable report and leaves nothing behind', async () => {
    const cwd = join(tmp.dir, 'plain')
    mkdirSync(cwd)
    const r = await runExample([], cwd)
    expect(r.code, r.stderr).toBe(0)
    const workspace = /^Workspace (\S+) \(removed at the end\): 8 files in inbox\/$/m.exec(r.stdout)?.[1]
    expect(workspace).toBeDefined()
    expect(existsSync(workspace!)).toBe(false)
    expect(readdirSync(cwd)).toEqual([])

    expect(r.stdout).toMatch(/^ {2}coordinator agt_\w+ RUNNING pid \d+ · memory 256 MB, cpu 60000 ms, storage 5 MB$/m)
    expect(r.stdout).toMatch(
      /^ {4}worker-c agt_\w+ RUNNING pid \d+ · memory 128 MB, cpu 60000 ms, storage 5 MB\n {8}file:inbox\/\*\* read · file:out\/c\/\*\* write$/m,
    )
    expect(r.stdout).toMatch(/^ {2}worker-a \(pid \d+\) → out\/a\/: 3 files, 95 words$/m)
    expect(r.stdout).toMatch(/^ {4}inbox\/gulls\.txt +→ out\/c\/gulls\.txt +5 words, 1 line$/m)
    expect(r.stdout).toContain(
      'Refused writes, as the workers reported them: 1\n  worker-c: write out/summary.txt [PERMISSION_DENIED]\n',
    )
    expect(r.stdout).toMatch(
      /^permission\.denied events on the bus: 1\n {2}from worker-c \(agt_\w+\): write "file:out\/summary\.txt": /m,
    )
    expect(r.stdout).toContain(
      `out/summary.txt, written by the coordinator:\n${expectedSummary
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n')}\n`,
    )
    expect(r.stdout).toMatch(
      /^ {2}\[PERMISSION_ESCALATION\] Child "greedy" asks for more than its parent holds: write on "file:\*\*"\./m,
    )
    expect(r.stdout).toMatch(/^ {2}cluster: 1 live agent \(RUNNING 1, TERMINATED 3\), 1 command, 0 errors$/m)
    expect(r.stdout).toMatch(/^ {2}coordinator +TERMINATED +terminated$/m)
    expect(r.stdout.match(/^ {2}worker-[abc] +TERMINATED +terminated by parent agt_\w+$/gm)).toHaveLength(3)
  })

  it('refuses a workspace that is not empty, and unknown arguments', async () => {
    const full = join(tmp.dir, 'full')
    mkdirSync(full)
    writeFileSync(join(full, 'keep.txt'), 'mine')
    const r = await runExample(['--workspace', full])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`the workspace ${full} is not empty`)
    expect(readdirSync(full)).toEqual(['keep.txt'])

    for (const args of [['--verbose'], ['--workspace'], ['folder']]) {
      const bad = await runExample(args)
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain('usage: node run.mjs [--json] [--workspace DIR]')
    }
  })
})
