// The agents of the agent-tree example: a coordinator that splits the files
// of its workspace's inbox/ between three workers it spawns, each with
// narrower permissions than its own, and the worker they all run.
//
// Every agent here runs in a process of its own (the spec's runtime is
// `process`; children take their parent's). They share one workspace folder:
// the permissions, not the folder, say which paths each may touch.
import { basename } from 'node:path'
import { z } from 'zod'
import { defineAgent, isFlotillaError, nonRetryable } from 'flotilla'

/** The shards, one per worker: worker-a writes only to out/a/, and so on. */
export const SHARDS = ['a', 'b', 'c']

/** The folder of the workspace the coordinator reads (listing it needs `list` on `file:inbox`). */
export const INBOX = 'inbox'

/** The summary only the coordinator may write. */
export const SUMMARY = 'out/summary.txt'

/** The shard whose worker is (deliberately) asked to write the summary too, which it is not granted. */
export const OVERREACHING = 'c'

/** The worker of a shard. */
export const workerName = (shard) => `worker-${shard}`

/** Where the worker of a shard writes. */
export const outDir = (shard) => `out/${shard}`

/** The shard of the file at `index` in the sorted listing: round robin, a, b, c, a, b, … */
export const shardOf = (index) => SHARDS[index % SHARDS.length]

/**
 * What a worker may do, a subset of the coordinator's grants: read the
 * inbox, write under its own out/<shard>/. Nothing else: not even listing,
 * and not out/summary.txt.
 */
export const workerPermissions = (shard) => [
  { resource: 'file:inbox/**', actions: ['read'] },
  { resource: `file:${outDir(shard)}/**`, actions: ['write'] },
]

/** Words of a text: its whitespace-separated tokens. */
export const wordCount = (text) => text.split(/\s+/).filter((t) => t !== '').length

/** `n` and a noun, plural unless `n` is 1: "1 line", "3 lines". */
export const count = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`

/** Lines of a text: 0 when empty, a final newline does not start a line. */
export const lineCount = (text) => (text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0))

const fileResultSchema = z.object({
  file: z.string(),
  out: z.string(),
  words: z.number().int(),
  lines: z.number().int(),
})
const deniedSchema = z.object({ path: z.string(), code: z.string(), message: z.string() })

export const worker = defineAgent({
  name: 'worker',
  version: '1.0.0',
  description:
    'Writes an upper-cased copy of each file it is given into its out folder and counts its words and lines.',
  tags: ['example'],
  input: z.object({
    files: z.array(z.string().min(1)),
    outDir: z.string().min(1),
    /** Also write a summary of the shard here (a path the worker may well not be granted). */
    summary: z.string().min(1).optional(),
  }),
  output: z.object({
    pid: z.number().int(),
    files: z.array(fileResultSchema),
    words: z.number().int(),
    denied: z.array(deniedSchema),
  }),
  async handler({ files, outDir, summary }, ctx) {
    const results = []
    for (const file of files) {
      const text = await ctx.workspace.readText(file)
      const out = `${outDir}/${basename(file)}`
      await ctx.workspace.write(out, text.toUpperCase())
      results.push({ file, out, words: wordCount(text), lines: lineCount(text) })
    }
    const words = results.reduce((n, r) => n + r.words, 0)
    const denied = []
    if (summary !== undefined) {
      // Checked against `file:<summary>` `write`; without that grant the
      // workspace refuses with PERMISSION_DENIED (and reports a
      // `permission.denied` event). The worker notes the refusal and goes on.
      try {
        await ctx.workspace.write(
          summary,
          `${count(files.length, 'file')}, ${count(words, 'word')} (written by a worker)\n`,
        )
      } catch (err) {
        if (!isFlotillaError(err) || err.code !== 'PERMISSION_DENIED') throw err
        ctx.log.warn(`not allowed to write ${summary}`, { code: err.code })
        denied.push({ path: summary, code: err.code, message: err.message })
      }
    }
    return { pid: process.pid, files: results, words, denied }
  },
})

const perWorkerSchema = z.object({
  worker: z.string(),
  id: z.string(),
  shard: z.string(),
  outDir: z.string(),
  pid: z.number().int(),
  files: z.array(fileResultSchema),
  words: z.number().int(),
})

/** The lines of the summary the coordinator writes: one per file, by name, and the total. */
export function summaryText(perWorker) {
  const rows = perWorker
    .flatMap((w) => w.files.map((f) => ({ ...f, worker: w.worker })))
    .sort((x, y) => (x.file < y.file ? -1 : x.file > y.file ? 1 : 0))
  const total = rows.reduce((n, r) => n + r.words, 0)
  return [
    `Summary of ${INBOX}/ written by the coordinator: ${count(rows.length, 'file')}, ${count(total, 'word')}`,
    ...rows.map((r) => `${r.file}: ${count(r.words, 'word')}, ${count(r.lines, 'line')} (${r.worker} -> ${r.out})`),
    '',
  ].join('\n')
}

export const coordinator = defineAgent({
  name: 'coordinator',
  version: '1.0.0',
  description:
    'Splits inbox/ into three shards, has a worker per shard process it in parallel, and writes out/summary.txt.',
  tags: ['example'],
  input: z.object({}).strict(),
  output: z.object({
    files: z.array(z.string()),
    perWorker: z.array(perWorkerSchema),
    denied: z.array(z.object({ worker: z.string(), path: z.string(), code: z.string() })),
    summary: z.object({ path: z.string(), files: z.number().int(), words: z.number().int() }),
  }),
  async handler(_input, ctx) {
    const files = await ctx.workspace.list(INBOX)
    if (files.length === 0) throw nonRetryable(new Error(`${INBOX}/ holds no files`))
    const shards = SHARDS.map((shard) => ({
      shard,
      worker: workerName(shard),
      files: files.filter((_, i) => shardOf(i) === shard),
    }))

    // Each child asks for a subset of the coordinator's permissions (more
    // would fail with PERMISSION_ESCALATION) and for less memory; it shares
    // the coordinator's workspace folder and runs in a process of its own.
    const spawned = await Promise.allSettled(
      shards.map((s) =>
        ctx.spawn({
          name: s.worker,
          export: 'worker',
          permissions: workerPermissions(s.shard),
          limits: { memoryMb: 128 },
        }),
      ),
    )
    const children = spawned.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    try {
      const failed = spawned.find((r) => r.status === 'rejected')
      if (failed) throw failed.reason

      // The three workers run at once, each in its own process.
      const outputs = await Promise.all(
        shards.map((s, i) =>
          children[i].execute({
            files: s.files,
            outDir: outDir(s.shard),
            ...(s.shard === OVERREACHING ? { summary: SUMMARY } : {}),
          }),
        ),
      )
      const perWorker = shards.map((s, i) => {
        const o = outputs[i]
        return {
          worker: s.worker,
          id: children[i].id,
          shard: s.shard,
          outDir: outDir(s.shard),
          pid: o.pid,
          files: o.files,
          words: o.words,
        }
      })
      const denied = shards.flatMap((s, i) =>
        outputs[i].denied.map((d) => ({ worker: s.worker, path: d.path, code: d.code })),
      )

      // The coordinator holds `write` on file:out/**, summary included.
      await ctx.workspace.write(SUMMARY, summaryText(perWorker))
      const words = perWorker.reduce((n, w) => n + w.words, 0)
      return { files, perWorker, denied, summary: { path: SUMMARY, files: files.length, words } }
    } finally {
      await Promise.all(children.map((c) => c.terminate()))
    }
  },
})
