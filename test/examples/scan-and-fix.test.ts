import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { dirname, join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, ROOT, runCli, tempDir } from '../cli/run-cli.js'

const EXAMPLE = join(ROOT, 'examples/scan-and-fix')
const SAMPLE = join(EXAMPLE, 'sample')

/** What the shipped sample holds, counted by hand from its files (see examples/scan-and-fix/README.md). */
const SAMPLE_PROBLEMS = {
  'trailing-whitespace': 7,
  'final-newline': 3,
  'mixed-indentation': 5,
  crlf: 2,
  'line-too-long': 3,
  todo: 6,
  'empty-file': 1,
  'not-utf8': 1,
}
const REPORT_ONLY = { 'line-too-long': 3, todo: 6, 'empty-file': 1, 'not-utf8': 1 }
const FIXED_FILES = [
  'README.md',
  'docs/guide.md',
  'docs/notes.txt',
  'scripts/deploy.sh',
  'src/app.js',
  'src/config.json',
  'src/lib/strings.js',
  'src/util.py',
  'styles/site.css',
]

interface Report {
  root: string
  apply: boolean
  files: number
  totals: { problems: number; fixable: number; reportOnly: number; filesWithProblems: number; filesChanged: number }
  byRule: Record<string, number>
  byFile: Record<string, number>
  text: string
}
interface DemoJson {
  state: string
  outputs: { report: Report; [task: string]: unknown }
  tasks: Record<string, { state: string; agent: string }>
}

function demoJson(stdout: string): DemoJson {
  return JSON.parse(stdout) as DemoJson
}

/** Relative path → SHA-256 of every file under `dir`. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex')
    }
  }
  walk(dir)
  return out
}

const tmp = tempDir('flotilla-demo-test-')
let shipped: Record<string, string>

beforeAll(() => {
  ensureBuilt()
  shipped = snapshot(SAMPLE)
})

afterAll(() => {
  tmp.cleanup()
  // The demo must never change the shipped sample.
  expect(snapshot(SAMPLE)).toEqual(shipped)
})

describe('examples/scan-and-fix', () => {
  it('finds exactly the problems planted in the sample (dry run, nothing written)', async () => {
    const r = await runCli(['demo', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = demoJson(r.stdout)
    expect(out.state).toBe('SUCCEEDED')
    const report = out.outputs.report
    expect(report.root).toBe(SAMPLE)
    expect(report.apply).toBe(false)
    expect(report.files).toBe(13)
    expect(report.byRule).toEqual(SAMPLE_PROBLEMS)
    expect(report.totals).toEqual({ problems: 28, fixable: 17, reportOnly: 11, filesWithProblems: 11, filesChanged: 9 })
    expect(report.byFile).toMatchObject({
      'src/app.js': 5,
      'styles/site.css': 4,
      'src/util.py': 3,
      'data/empty.txt': 1,
      'data/legacy-latin1.txt': 1,
    })
    expect(report.byFile['Makefile']).toBeUndefined() // tab indentation alone is fine
    expect(out.tasks['scan-0'].agent).toBe('scanner@1.0.0')
    expect(out.tasks['report'].agent).toBe('reporter@1.0.0')
    expect(Object.values(out.tasks).every((t) => t.state === 'SUCCEEDED')).toBe(true)
    expect(snapshot(SAMPLE)).toEqual(shipped)
    expect(existsSync(join(SAMPLE, 'README.md.bak'))).toBe(false)
  })

  it('prints the run summary and the report on a plain run', async () => {
    const r = await runCli(['demo'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('task.succeeded scan-0')
    expect(r.stdout).toMatch(/Run run_\S+ of workflow "scan-and-fix": SUCCEEDED/)
    expect(r.stdout).toMatch(/critical path {2}scan-\d → fix-\d → report/)
    expect(r.stdout).toContain('13 files scanned · 28 problems in 11 files · 17 fixable · 11 to review by hand')
    expect(r.stdout).toContain('Dry run: nothing was written. 9 files would change')
  })

  it('resolves the default target against the workflow folder when run with "flotilla run"', async () => {
    const r = await runCli(['run', join(EXAMPLE, 'workflow.yaml'), '--json'], { cwd: tmp.dir })
    expect(r.code, r.stderr).toBe(0)
    expect(demoJson(r.stdout).outputs.report.byRule).toEqual(SAMPLE_PROBLEMS)
  })

  it('writes fixes with .bak backups on a copy, and a second scan finds nothing fixable', async () => {
    const target = join(tmp.dir, 'copy')
    cpSync(SAMPLE, target, { recursive: true })
    // Folders and files the scanner must skip.
    for (const skipped of ['node_modules/pkg/index.js', '.git/config', 'old.txt.bak']) {
      mkdirSync(dirname(join(target, skipped)), { recursive: true })
      writeFileSync(join(target, skipped), 'trailing   \n\tTODO')
    }
    const modeBefore = statSync(join(target, 'scripts/deploy.sh')).mode

    const applied = await runCli(['demo', '--json', '--input', `target=${target}`, '--input', 'apply=true'])
    expect(applied.code, applied.stderr).toBe(0)
    const report = demoJson(applied.stdout).outputs.report
    expect(report.apply).toBe(true)
    expect(report.byRule).toEqual(SAMPLE_PROBLEMS)
    expect(report.totals.filesChanged).toBe(9)
    expect(report.text).toContain('Fixed 9 files')
    for (const file of FIXED_FILES) {
      expect(readFileSync(join(target, `${file}.bak`)), file).toEqual(readFileSync(join(SAMPLE, file)))
    }
    expect(existsSync(join(target, 'Makefile.bak'))).toBe(false)
    expect(existsSync(join(target, 'data/empty.txt.bak'))).toBe(false)
    expect(readFileSync(join(target, 'src/util.py'), 'utf8')).not.toContain('\r')
    expect(readFileSync(join(target, 'styles/site.css'), 'utf8')).toBe(
      'body {\n  margin: 0;\n  font-family: sans-serif;\n}\n',
    )
    expect(readFileSync(join(target, 'scripts/deploy.sh'), 'utf8')).toContain('\n      scp -r dist')
    expect(statSync(join(target, 'scripts/deploy.sh')).mode).toBe(modeBefore)
    expect(readFileSync(join(target, 'data/legacy-latin1.txt'))).toEqual(
      readFileSync(join(SAMPLE, 'data/legacy-latin1.txt')),
    )

    const rescan = await runCli(['demo', '--json', '--input', `target=${target}`])
    expect(rescan.code, rescan.stderr).toBe(0)
    const after = demoJson(rescan.stdout).outputs.report
    expect(after.files).toBe(13)
    expect(after.totals.fixable).toBe(0)
    expect(after.byRule).toEqual(REPORT_ONLY)

    // Applying again changes nothing and keeps the original backups.
    const again = await runCli(['demo', '--json', '--input', `target=${target}`, '--input', 'apply=true'])
    expect(again.code, again.stderr).toBe(0)
    expect(demoJson(again.stdout).outputs.report.totals.filesChanged).toBe(0)
    expect(readFileSync(join(target, 'styles/site.css.bak'))).toEqual(readFileSync(join(SAMPLE, 'styles/site.css')))
  })

  it('with apply=true and no target, fixes a temporary copy and leaves the shipped sample alone', async () => {
    const r = await runCli(['demo', '--json', '--input', 'apply=true'])
    expect(r.code, r.stderr).toBe(0)
    const report = demoJson(r.stdout).outputs.report
    try {
      expect(report.root).not.toBe(SAMPLE)
      expect(relative(SAMPLE, report.root).startsWith('..')).toBe(true)
      expect(r.stderr).toContain(report.root)
      expect(report.totals.filesChanged).toBe(9)
      expect(existsSync(join(report.root, 'src/app.js.bak'))).toBe(true)
      expect(snapshot(SAMPLE)).toEqual(shipped)
    } finally {
      rmSync(dirname(report.root), { recursive: true, force: true })
    }
  })

  it('fails the run with TASK_NON_RETRYABLE when the target folder does not exist', async () => {
    const r = await runCli(['demo', '--input', `target=${join(tmp.dir, 'missing')}`])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/✗ scan-\d .*1 attempt\) \[TASK_NON_RETRYABLE\] Target folder .* does not exist/)
  })
})
