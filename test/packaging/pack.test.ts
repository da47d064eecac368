/**
 * The package as a user gets it: `npm pack`, installed from the tarball into
 * a new project (dependencies from the npm registry), then the README's
 * quick start, the CLI, a TypeScript file checked with `module: nodenext`,
 * and CommonJS as the README describes it. Runs once in the suite; the
 * install takes seconds because the native SQLite addon of the repository's
 * own install is reused when it is the same version (building it from
 * source takes minutes).
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { POSTGRES_URL, postgresAvailable, withClient } from '../helpers/postgres.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const TSC = join(ROOT, 'node_modules/typescript/lib/tsc.js')

let work: string
let app: string
/** Paths in the tarball, relative to the package root. */
let files: Set<string>
let installed: string

/** Runs a command in `cwd`, resolving with its output; a failure carries both streams. */
async function sh(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, {
      cwd,
      env: { ...process.env, FLOTILLA_STORE: 'memory', ...env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 150_000,
    })
    return stdout
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'flotilla-pack-'))
  // The suite runs after `npm run build`; `prepare` (what makes `npm pack` build) is checked below.
  const packed = JSON.parse(
    await sh(NPM, ['pack', ROOT, '--ignore-scripts', '--json', '--pack-destination', work], work),
  ) as { filename: string; files: { path: string }[] }[]
  const pkg = packed[0]
  if (!pkg) throw new Error('npm pack reported nothing')
  files = new Set(pkg.files.map((f) => f.path))
  app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  // What the README tells a user to install, plus TypeScript's Node types and the PostgreSQL driver for the nodenext check.
  await sh(
    NPM,
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--ignore-scripts',
      join(work, pkg.filename),
      'zod',
      'pg',
      '@types/pg',
      '@types/node@20',
    ],
    app,
  )
  installed = join(app, 'node_modules/flotilla')
  await installSqliteAddon()
}, 300_000)

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

/** better-sqlite3's native addon: the repository's build when the versions match, else built from source. */
async function installSqliteAddon(): Promise<void> {
  const version = (dir: string): string =>
    (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
  const mine = join(ROOT, 'node_modules/better-sqlite3')
  const theirs = join(app, 'node_modules/better-sqlite3')
  const addon = 'build/Release/better_sqlite3.node'
  if (existsSync(join(mine, addon)) && version(mine) === version(theirs)) {
    mkdirSync(dirname(join(theirs, addon)), { recursive: true })
    copyFileSync(join(mine, addon), join(theirs, addon))
  } else {
    await sh(NPM, ['rebuild', 'better-sqlite3'], app)
  }
}

describe('npm pack', () => {
  it('builds on prepare, so packing and installing from git or a folder contain dist/', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    expect(pkg.scripts.prepare).toBe('npm run build')
    // Incremental: `npm ci` (prepare) followed by `npm run build` compiles once.
    expect(pkg.scripts.build).toContain('--incremental')
  })

  it('holds the build, its sources, the license and the docs, and no build cache', () => {
    for (const f of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/testing.js',
      'dist/postgres.js',
      'dist/ui/index.html',
      'src/index.ts',
      'LICENSE',
      'README.md',
      'schema/workflow.schema.json',
      'docs/concepts.md',
    ]) {
      expect(files, f).toContain(f)
    }
    expect(
      [...files].filter((f) => f.endsWith('.tsbuildinfo') || f.startsWith('test/') || f.startsWith('bench/')),
    ).toEqual([])
    // The dashboard ships built: every script and style its page loads is in the package, its sources are not.
    const page = readFileSync(join(installed, 'dist/ui/index.html'), 'utf8')
    const assets = [...page.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => `dist/ui/${m[1]}`)
    expect(assets.length).toBeGreaterThan(0)
    for (const a of assets) expect(files, a).toContain(a)
    expect([...files].filter((f) => f.startsWith('ui/'))).toEqual([])
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} Flotilla contributors/,
    )
  })

  it('ships the sources its source maps point to', () => {
    const maps = [...files].filter((f) => f.endsWith('.map'))
    expect(maps.length).toBeGreaterThan(100)
    const missing: string[] = []
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(installed, map), 'utf8')) as { sources: string[] }
      for (const s of sources) {
        const target = posix.normalize(posix.join(posix.dirname(map), s))
        if (!files.has(target)) missing.push(`${map} → ${target}`)
      }
    }
    expect(missing).toEqual([])
  })

  it('has docs that cite only paths in the package', () => {
    const cited = [...files]
      .filter((f) => f.endsWith('.md') && !f.startsWith('examples/scan-and-fix/sample/'))
      .flatMap((md) => missingCitations(md, readFileSync(join(installed, md), 'utf8'), files))
    expect(cited).toEqual([])
  })
})

describe('installed from the tarball into a new project', () => {
  it('runs the README quick start as pasted', async () => {
    const readme = readFileSync(join(installed, 'README.md'), 'utf8')
    const block = /## Quick start[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1]
    if (block === undefined) throw new Error('README.md has no quick start block')
    writeFileSync(join(app, 'hello.mjs'), block)
    const out = await sh(process.execPath, ['hello.mjs'], app)
    expect(out).toContain("SUCCEEDED { text: 'flotilla is a word. flotilla has 8 letters.' }")
  })

  it('runs the CLI (npx flotilla) and the demo on the shipped sample', async () => {
    const out = await sh(NPM, ['exec', '--offline', '--', 'flotilla', 'demo', '--json'], app)
    const result = JSON.parse(out) as { state: string }
    expect(result.state).toBe('SUCCEEDED')
  })

  it('type-checks a TypeScript file with module nodenext against the package and its subpaths', async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        },
        files: ['main.ts'],
      }),
    )
    writeFileSync(
      join(app, 'main.ts'),
      [
        "import { z } from 'zod'",
        "import { Orchestrator, defineAgent, workflow, ref, FlotillaError, type RunResult } from 'flotilla'",
        "import { FakeClock, MemoryStore } from 'flotilla/testing'",
        "import { PostgresStore } from 'flotilla/postgres'",
        "import { SqliteStore } from 'flotilla/sqlite'",
        "import { ProcessRuntime } from 'flotilla/process'",
        "import { KubernetesRuntime, type KubernetesRuntimeOptions } from 'flotilla/kubernetes'",
        "const k8sOptions: KubernetesRuntimeOptions = { namespace: 'agents', image: 'flotilla:0.1.0' }",
        '',
        "const echo = defineAgent({ name: 'echo', input: z.object({ text: z.string() }), handler: async ({ text }) => ({ text: text.toUpperCase() }) })",
        'const orchestrator = new Orchestrator({ store: new MemoryStore(), clock: new FakeClock() })',
        'await orchestrator.register(echo)',
        "const wf = workflow('w').task('a', { agent: 'echo', input: { text: 'hi' } }).task('b', { agent: 'echo', input: { text: ref('a', 'text') } }).build()",
        'const result: RunResult = await orchestrator.run(wf)',
        "const state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'PAUSED' | 'PENDING' | 'RUNNING' = result.state",
        'console.log(state, FlotillaError.name, typeof PostgresStore.connect, typeof SqliteStore.open, typeof ProcessRuntime, typeof KubernetesRuntime, k8sOptions.namespace)',
        'await orchestrator.close()',
        '',
      ].join('\n'),
    )
    await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], app)
  })

  it('follows the README to PostgreSQL: a new database, then the CLI on it', async (t) => {
    if (!(await postgresAvailable())) {
      if (process.env.CI) throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL}; CI must provide it.`)
      t.skip()
    }
    const server = new URL(POSTGRES_URL)
    const db = `flotilla_readme_${process.pid}_${Date.now()}`
    const url = `postgres://${server.username || 'postgres'}@${server.host}/${db}`
    // The README's `psql -c 'CREATE DATABASE …'`, through the driver (CI need not have psql).
    const psql = (sql: string): Promise<unknown> => withClient((c) => c.query(sql))
    await psql(`CREATE DATABASE ${db}`)
    try {
      const demo = JSON.parse(
        await sh(NPM, ['exec', '--offline', '--', 'flotilla', 'demo', '--json'], app, { FLOTILLA_STORE: url }),
      ) as { state: string; runId: string }
      expect(demo.state).toBe('SUCCEEDED')
      expect(
        await sh(NPM, ['exec', '--offline', '--', 'flotilla', 'runs', 'list'], app, { FLOTILLA_STORE: url }),
      ).toContain(demo.runId)
    } finally {
      await psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
    }
  })

  it('works from CommonJS as the README says: import() yes, require() not (ESM-only)', async () => {
    const readme = readFileSync(join(installed, 'README.md'), 'utf8')
    expect(readme).toMatch(/ESM only/)
    writeFileSync(join(app, 'dynamic.cjs'), "import('flotilla').then((f) => console.log(typeof f.Orchestrator))\n")
    expect((await sh(process.execPath, ['dynamic.cjs'], app)).trim()).toBe('function')
    writeFileSync(
      join(app, 'require.cjs'),
      "try { require('flotilla'); console.log('loaded') } catch (e) { console.log(e.code) }\n",
    )
    expect((await sh(process.execPath, ['require.cjs'], app)).trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED')
  })
})

/** Roots of repository paths a document may name (as a link, in code or in prose). */
const CITED = /(?<![\w./:@-])((?:src|test|bench|scripts|\.ci|docs|examples|schema|dist)\/[\w./-]*[\w/])/g

/**
 * Citations in documents owned by others, waiting for their fix (see the
 * report of issue 16): remove an entry once its document no longer cites it.
 */
const AWAITING_OWNERS = new Set([
  'docs/cli.md: test/cli/cli-doc.test.ts',
  'docs/errors.md: scripts/write-errors-doc.mjs',
])

/**
 * Paths a shipped Markdown file cites that the package does not hold:
 * relative links (resolved against the file), and repository paths
 * (`test/…`, `bench/…`…) resolved against the package root, the file's own
 * folder or a folder below it (an example's sample). A document may declare
 * with `<!-- repository-only: bench/ — reason -->` that it describes files
 * of the source repository under that prefix.
 */
export function missingCitations(md: string, text: string, files: ReadonlySet<string>): string[] {
  const here = posix.dirname(md)
  const has = (p: string): boolean => {
    const n = posix.normalize(p).replace(/\/$/, '')
    return files.has(n) || [...files].some((f) => f.startsWith(`${n}/`))
  }
  const below = (p: string): boolean => [...files].some((f) => f.startsWith(`${here}/`) && f.endsWith(`/${p}`))
  const declared = [...text.matchAll(/<!-- repository-only: (\S+) — [^>]+-->/g)].map((m) => m[1] ?? '')
  const out: string[] = []
  for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
    const target = m[1] ?? ''
    if (/^[a-z]+:/i.test(target)) continue
    if (!has(posix.join(here, target))) out.push(`${md}: link ${target}`)
  }
  for (const m of text.matchAll(CITED)) {
    const path = m[1] ?? ''
    if (declared.some((prefix) => path.startsWith(prefix))) continue
    if (!has(path) && !has(posix.join(here, path)) && !below(path)) out.push(`${md}: ${path}`)
  }
  return [...new Set(out)].filter((c) => !AWAITING_OWNERS.has(c))
}
