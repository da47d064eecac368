/**
 * Every code block of README.md, docs/ and the examples' READMEs runs as
 * pasted. Blocks of one document run in order in one temporary folder (a
 * block may create a file a later one uses), documents run in parallel.
 * The folder holds a copy of `examples/` and `node_modules` links to this
 * package (built `dist/`) and its dependencies, so `import 'flotilla'`,
 * `npx flotilla` and `flotilla` (on PATH) work; nothing is written in the
 * repository.
 *
 * - `js` blocks run with node as ES modules, `ts` blocks after stripping types;
 * - `sh` blocks run with bash (`set -e`);
 * - `yaml` blocks must parse;
 * - other languages (`text`, output listings) are not run.
 *
 * A marker on the line before a block changes that:
 * `<!-- snippet: skip — reason -->` (a reason is required),
 * `<!-- snippet: file PATH -->` (written to PATH, not run),
 * `<!-- snippet: cjs -->` (a `js` block run as CommonJS),
 * `<!-- snippet: postgres -->` (needs PostgreSQL: each `postgres://…/<db>`
 * URL is replaced by the test server's with a fresh schema; skipped without
 * one, except under CI).
 */
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { parseAllDocuments } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dropSchema, freshSchema, POSTGRES_URL, postgresAvailable } from '../helpers/postgres.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** One fenced block. */
interface Block {
  readonly doc: string
  readonly line: number
  readonly lang: string
  readonly code: string
  readonly marker:
    | { kind: 'run' }
    | { kind: 'skip'; reason: string }
    | { kind: 'file'; path: string }
    | { kind: 'cjs' }
    | { kind: 'postgres' }
}

/** What running a block gave. */
type Outcome = { ok: true; skipped?: string } | { ok: false; error: string }

const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...readdirSync(join(ROOT, 'examples'))
    .map((d) => `examples/${d}/README.md`)
    .filter((f) => existsFile(join(ROOT, f))),
]

/**
 * Blocks of documents owned by others that do not run yet (issue 16): they
 * are still run, and a failure is reported as skipped. Key: `doc` and the
 * block's first line. Remove an entry once its block runs.
 */
const AWAITING_OWNERS = new Map<string, string>([])

function existsFile(path: string): boolean {
  try {
    readFileSync(path)
    return true
  } catch {
    return false
  }
}

/** The fenced blocks of a Markdown text, with the marker before each. */
export function extractBlocks(doc: string, text: string): Block[] {
  const lines = text.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] ?? '')
    if (!open) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '')
    let j = start - 1
    while (j >= 0 && (lines[j] ?? '').trim() === '') j--
    const m = /^<!-- snippet: (.*?) -->$/.exec((lines[j] ?? '').trim())
    blocks.push({
      doc,
      line: start + 1,
      lang: open[1] ?? '',
      code: `${body.join('\n')}\n`,
      marker: parseMarker(m?.[1], `${doc}:${start + 1}`),
    })
  }
  return blocks
}

function parseMarker(text: string | undefined, where: string): Block['marker'] {
  if (text === undefined) return { kind: 'run' }
  const skip = /^skip — (.+)$/.exec(text)
  if (skip?.[1]) return { kind: 'skip', reason: skip[1] }
  const file = /^file (\S+)$/.exec(text)
  if (file?.[1]) return { kind: 'file', path: file[1] }
  if (text === 'cjs' || text === 'postgres') return { kind: text }
  throw new Error(`${where}: unknown snippet marker "${text}" (skip — reason | file PATH | cjs | postgres)`)
}

const RUNNABLE = new Set(['js', 'mjs', 'ts', 'sh', 'bash', 'yaml', 'yml'])

/** A folder set up like a project that installed flotilla, with a copy of the examples. */
function makeProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-snippet-'))
  const nm = join(dir, 'node_modules')
  mkdirSync(join(nm, '.bin'), { recursive: true })
  symlinkSync(ROOT.replace(/\/$/, ''), join(nm, 'flotilla'), 'dir')
  for (const dep of ['zod', 'yaml', 'pg', 'better-sqlite3', 'pino', '@opentelemetry'])
    symlinkSync(join(ROOT, 'node_modules', dep), join(nm, dep), 'dir')
  symlinkSync(join(ROOT, 'node_modules', 'vitest'), join(nm, 'vitest'), 'dir')
  writeFileSync(
    join(nm, '.bin/vitest'),
    `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'node_modules/vitest/vitest.mjs')}" "$@"\n`,
    { mode: 0o755 },
  )
  writeFileSync(
    join(nm, '.bin/flotilla'),
    `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/cli/main.js')}" "$@"\n`,
    { mode: 0o755 },
  )
  // Like a clone after `npm run build`: dist/ is there, and the build is done.
  symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'), 'dir')
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'snippets',
      private: true,
      type: 'module',
      scripts: { build: 'true', demo: 'flotilla demo' },
    }),
  )
  cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true })
  return dir
}

function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) resolve({ ok: true })
      else resolve({ ok: false, error: `${err.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}` })
    })
  })
}

let pgSchemas: string[] = []

/** Runs the blocks of one document in order, in one folder. */
async function runDoc(blocks: readonly Block[], results: Map<Block, Outcome>): Promise<void> {
  const dir = makeProject()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${join(dir, 'node_modules/.bin')}:${process.env.PATH ?? ''}`,
    NO_COLOR: '1',
  }
  delete env.FLOTILLA_STORE // each document has its own folder, so its own .flotilla/flotilla.db
  delete env.CI
  try {
    let n = 0
    for (const b of blocks) {
      n++
      results.set(b, await runBlock(b, dir, env, n))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function runBlock(b: Block, dir: string, env: NodeJS.ProcessEnv, n: number): Promise<Outcome> {
  const m = b.marker
  if (m.kind === 'skip') return { ok: true, skipped: m.reason }
  if (m.kind === 'file') {
    mkdirSync(dirname(join(dir, m.path)), { recursive: true })
    writeFileSync(join(dir, m.path), b.code)
    return { ok: true }
  }
  if (!RUNNABLE.has(b.lang)) return { ok: true, skipped: `not run: ${b.lang || 'no language'}` }
  let code = b.code
  if (m.kind === 'postgres') {
    if (!(await postgresAvailable())) {
      if (process.env.CI)
        return { ok: false, error: `PostgreSQL is not reachable at ${POSTGRES_URL}; CI must provide it.` }
      return { ok: true, skipped: `PostgreSQL is not reachable at ${POSTGRES_URL}` }
    }
    const schema = freshSchema()
    pgSchemas.push(schema)
    const url = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}schema=${schema}`
    code = code
      .replace(/postgres:\/\/[^\s'"`]+/g, url)
      .replace(/^psql .*CREATE DATABASE.*$/m, ': database created by the test')
  }
  if (b.lang === 'yaml' || b.lang === 'yml') {
    const errors = parseAllDocuments(code).flatMap((d) => ('errors' in d ? d.errors : []))
    return errors.length === 0 ? { ok: true } : { ok: false, error: errors.map((e) => e.message).join('\n') }
  }
  if (b.lang === 'sh' || b.lang === 'bash') {
    if (/^\s*npm (install|i|ci)\b/m.test(code))
      code = code.replace(/^\s*npm (install|i|ci)\b.*$/gm, 'true # npm install: the project has its packages already')
    return run('bash', ['-e', '-o', 'pipefail', '-c', code], dir, env)
  }
  const file = join(dir, `snippet-${n}.${m.kind === 'cjs' ? 'cjs' : 'mjs'}`)
  const js =
    b.lang === 'ts'
      ? ts.transpileModule(code, {
          compilerOptions: {
            module: ts.ModuleKind.ESNext,
            target: ts.ScriptTarget.ES2022,
            verbatimModuleSyntax: false,
          },
        }).outputText
      : code
  writeFileSync(file, js)
  return run(process.execPath, [file], dir, env)
}

const blocks = DOCS.flatMap((doc) => extractBlocks(doc, readFileSync(join(ROOT, doc), 'utf8')))
const results = new Map<Block, Outcome>()

beforeAll(async () => {
  const byDoc = new Map<string, Block[]>()
  for (const b of blocks) byDoc.set(b.doc, [...(byDoc.get(b.doc) ?? []), b])
  const queue = [...byDoc.values()]
  const workers = Array.from({ length: Math.max(2, cpus().length) }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await runDoc(next, results)
  })
  await Promise.all(workers)
}, 300_000)

afterAll(async () => {
  await Promise.all(pgSchemas.map((s) => dropSchema(s).catch(() => undefined)))
  pgSchemas = []
})

describe('code blocks in the docs run as pasted', () => {
  for (const b of blocks) {
    const first = b.code.split('\n')[0] ?? ''
    it(`${b.doc}:${b.line} (${b.lang || 'text'}) ${first.slice(0, 60)}`, (t) => {
      const r = results.get(b)
      if (!r) throw new Error('not run')
      const waiting = AWAITING_OWNERS.get(`${b.doc}|${first}`)
      if (!r.ok && waiting !== undefined) t.skip(`awaiting its owner: ${waiting}`)
      if (!r.ok) throw new Error(`${b.doc}:${b.line} failed:\n${r.error}`)
      if (r.skipped !== undefined) t.skip(r.skipped)
    })
  }

  it('markers are well-formed and every skip says why', () => {
    expect(blocks.length).toBeGreaterThan(50)
    for (const b of blocks)
      if (b.marker.kind === 'skip') expect(b.marker.reason.length, `${b.doc}:${b.line}`).toBeGreaterThan(10)
  })
})
