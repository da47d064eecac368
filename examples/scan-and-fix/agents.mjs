// The agents of the scan-and-fix example: scanner, fixer, reporter.
// `flotilla run workflow.yaml` (and `flotilla demo`) import this module and
// register every agent it exports.
import { constants } from 'node:fs'
import { copyFile, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { defineAgent, nonRetryable } from 'flotilla'
import { fixText, RULE_NAMES, RULES, scanBytes } from './rules.mjs'

/** A relative `root` is resolved against this folder (the workflow file's). */
const HERE = dirname(fileURLToPath(import.meta.url))
const SKIP_DIRS = new Set(['node_modules', '.git'])
const TMP_SUFFIX = '.flotilla-tmp'

const problemSchema = z.object({
  file: z.string(),
  line: z.number().int().min(0),
  rule: z.enum(RULE_NAMES),
  message: z.string(),
  fixable: z.boolean(),
})

const scanOutputSchema = z.object({
  root: z.string(),
  shard: z.number().int(),
  files: z.array(z.string()),
  problems: z.array(problemSchema),
})

const fixOutputSchema = z.object({
  root: z.string(),
  apply: z.boolean(),
  changes: z.array(
    z.object({
      file: z.string(),
      fixes: z.record(z.string(), z.number().int()),
      bytesBefore: z.number().int(),
      bytesAfter: z.number().int(),
      written: z.boolean(),
      backup: z.string().nullable(),
    }),
  ),
  unchanged: z.array(z.string()),
})

/** Every file under `dir`, as sorted POSIX paths relative to it (skips node_modules, .git, *.bak, symlinks). */
async function listFiles(dir, signal) {
  const out = []
  const walk = async (rel) => {
    signal.throwIfAborted()
    const entries = await readdir(join(dir, rel), { withFileTypes: true })
    for (const e of entries) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(path)
      } else if (e.isFile() && !e.name.endsWith('.bak') && !e.name.endsWith(TMP_SUFFIX)) out.push(path)
    }
  }
  await walk('')
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Resolves a file of a problem inside `root`, refusing paths that leave it. */
function inside(root, file) {
  const full = resolve(root, file)
  const rel = relative(root, full)
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw nonRetryable(new Error(`Refusing to touch "${file}": it is not inside ${root}`))
  }
  return full
}

export const scanner = defineAgent({
  name: 'scanner',
  version: '1.0.0',
  description: 'Walks a folder and reports the problems of one shard of its files.',
  capabilities: ['scan'],
  tags: ['example', 'files'],
  input: z
    .object({
      root: z.string().min(1),
      shard: z.number().int().min(0),
      shards: z.number().int().min(1),
      /** Pause after each file, to watch the live display. */
      delayMs: z.number().min(0).default(0),
    })
    .refine((i) => i.shard < i.shards, { message: 'shard must be below shards', path: ['shard'] }),
  output: scanOutputSchema,
  async handler({ root, shard, shards, delayMs }, ctx) {
    const dir = resolve(HERE, root)
    const info = await stat(dir).catch(() => undefined)
    if (!info?.isDirectory()) throw nonRetryable(new Error(`Target folder ${dir} does not exist or is not a folder`))
    const all = await listFiles(dir, ctx.signal)
    const mine = all.filter((_, i) => i % shards === shard)
    const problems = []
    for (let k = 0; k < mine.length; k++) {
      ctx.signal.throwIfAborted()
      const bytes = await readFile(join(dir, mine[k]), { signal: ctx.signal })
      problems.push(...scanBytes(mine[k], bytes))
      ctx.progress((k + 1) / mine.length, mine[k])
      if (delayMs > 0) await sleep(delayMs, undefined, { signal: ctx.signal })
    }
    ctx.log.debug(`shard ${shard}/${shards}: ${mine.length} files, ${problems.length} problems`)
    return { root: dir, shard, files: mine, problems }
  },
})

export const fixer = defineAgent({
  name: 'fixer',
  version: '1.0.0',
  description: 'Fixes trailing whitespace, final newlines, mixed indentation and CRLF; dry run unless apply is true.',
  capabilities: ['fix'],
  tags: ['example', 'files'],
  input: z.object({
    root: z.string().min(1),
    problems: z.array(problemSchema),
    apply: z.boolean().default(false),
  }),
  output: fixOutputSchema,
  async handler({ root, problems, apply }, ctx) {
    const byFile = new Map()
    for (const p of problems) {
      if (!p.fixable) continue
      const fixes = byFile.get(p.file) ?? {}
      fixes[p.rule] = (fixes[p.rule] ?? 0) + 1
      byFile.set(p.file, fixes)
    }
    const changes = []
    const unchanged = []
    // One read and at most one write per file, all its rules at once.
    for (const [file, fixes] of [...byFile].sort(([a], [b]) => (a < b ? -1 : 1))) {
      ctx.signal.throwIfAborted()
      const full = inside(root, file)
      const before = await readFile(full)
      const text = before.toString('utf8')
      const after = fixText(text, new Set(Object.keys(fixes)))
      if (after === text) {
        unchanged.push(file) // already fixed, e.g. by an earlier attempt of this task
        continue
      }
      let backup = null
      if (apply) {
        backup = `${file}.bak`
        // Keep an existing backup: it holds the oldest original.
        await copyFile(full, `${full}.bak`, constants.COPYFILE_EXCL).catch((e) => {
          if (e.code !== 'EEXIST') throw e
        })
        // Write beside the file, then rename over it: never a half-written file.
        const { mode } = await stat(full)
        await writeFile(`${full}${TMP_SUFFIX}`, after, { mode })
        await rename(`${full}${TMP_SUFFIX}`, full)
      }
      changes.push({
        file,
        fixes,
        bytesBefore: before.length,
        bytesAfter: Buffer.byteLength(after),
        written: apply,
        backup,
      })
      ctx.progress(changes.length / byFile.size, file)
    }
    return { root, apply, changes, unchanged }
  },
})

const pad = (s, n) => (s.length >= n ? s : s + ' '.repeat(n - s.length))

export const reporter = defineAgent({
  name: 'reporter',
  version: '1.0.0',
  description: 'Adds up every shard: totals by rule and by file, and a readable report.',
  capabilities: ['report'],
  tags: ['example'],
  input: z.object({
    scans: z.array(scanOutputSchema).min(1),
    fixes: z.array(fixOutputSchema),
    apply: z.boolean().default(false),
  }),
  output: z.object({
    root: z.string(),
    apply: z.boolean(),
    files: z.number().int(),
    totals: z.object({
      problems: z.number().int(),
      fixable: z.number().int(),
      reportOnly: z.number().int(),
      filesWithProblems: z.number().int(),
      filesChanged: z.number().int(),
    }),
    byRule: z.record(z.string(), z.number().int()),
    byFile: z.record(z.string(), z.number().int()),
    text: z.string(),
  }),
  handler({ scans, fixes, apply }) {
    const root = scans[0].root
    const problems = scans.flatMap((s) => s.problems)
    const files = scans.reduce((n, s) => n + s.files.length, 0)
    const byRule = {}
    for (const rule of RULE_NAMES) {
      const n = problems.filter((p) => p.rule === rule).length
      if (n > 0) byRule[rule] = n
    }
    const byFile = {}
    for (const p of [...problems].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)))
      byFile[p.file] = (byFile[p.file] ?? 0) + 1
    const changes = fixes.flatMap((f) => f.changes).sort((a, b) => (a.file < b.file ? -1 : 1))
    const fixable = problems.filter((p) => p.fixable).length
    const totals = {
      problems: problems.length,
      fixable,
      reportOnly: problems.length - fixable,
      filesWithProblems: Object.keys(byFile).length,
      filesChanged: changes.length,
    }

    const lines = [
      `scan-and-fix report: ${root}`,
      `${files} files scanned · ${totals.problems} problems in ${totals.filesWithProblems} files · ${fixable} fixable · ${totals.reportOnly} to review by hand`,
      '',
      'By rule:',
      ...Object.entries(byRule).map(
        ([rule, n]) =>
          `  ${pad(rule, 21)} ${String(n).padStart(4)}  ${RULES[rule].fixable ? 'fixable    ' : 'report only'}  ${RULES[rule].description}`,
      ),
      '',
      'By file:',
      ...Object.entries(byFile).map(([file, n]) => {
        const rules = [...new Set(problems.filter((p) => p.file === file).map((p) => p.rule))].join(', ')
        return `  ${pad(file, 28)} ${String(n).padStart(4)}  ${rules}`
      }),
      '',
      apply
        ? `Fixed ${changes.length} files (each original kept as <file>.bak):`
        : `Dry run: nothing was written. ${changes.length} files would change (run again with --input apply=true):`,
      ...changes.map(
        (c) =>
          `  ${pad(c.file, 28)} ${Object.entries(c.fixes)
            .map(([r, n]) => `${r} ×${n}`)
            .join(', ')}`,
      ),
    ]
    const review = problems
      .filter((p) => !p.fixable)
      .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line))
    if (review.length > 0) {
      lines.push('', 'To review by hand:')
      for (const p of review) lines.push(`  ${p.file}${p.line > 0 ? `:${p.line}` : ''}  ${p.rule}: ${p.message}`)
    }
    return { root, apply, files, totals, byRule, byFile, text: `${lines.join('\n')}\n` }
  },
})
