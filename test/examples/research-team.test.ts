import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, ROOT, tempDir } from '../cli/run-cli.js'

const EXAMPLE = join(ROOT, 'examples/research-team')
const SOURCES = join(EXAMPLE, 'sources')

type Verdict = 'supported' | 'needs-evidence' | 'doubtful'
interface Finding {
  source: string
  claim: string
  confidence: number
  verdict: Verdict | null
  reason: string | null
}
interface Version {
  version: number
  createdBy: string
  basedOn: number | null
  runId: string
  taskId: string
  change: string
  source: string | null
  conflicts: number
}
interface Run {
  runId?: string
  state: string
  output?: Record<string, number | string>
  error?: { code: string; message: string }
}
interface Output {
  topic: string
  folder: string
  state: string
  runs: { analyst: Run; researcher: Run }
  findings: Finding[]
  report: {
    version: number
    topic: string
    findings: { source: string; claim: string; confidence: number }[]
    assessments: { source: string; claim: string; verdict: Verdict; reason: string }[]
  } | null
  versions: Version[]
  conflicts: { researcher: number; analyst: number; total: number }
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

/**
 * What a note should yield, worked out here (not with the example's code):
 * the claim is the `Claim:` line; the confidence is a quarter per number the
 * other lines after the title cite, at most 1; the specialist's verdict is
 * `doubtful` for absolute wording, else `supported` from confidence 0.5, else
 * `needs-evidence`.
 */
function expectedOf(
  folder: string,
  source: string,
): { source: string; claim: string; confidence: number; verdict: Verdict } {
  const lines = readFileSync(join(folder, source), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
  const claimLine = lines.find((l) => l.startsWith('Claim:'))!
  const claim = claimLine.slice('Claim:'.length).trim()
  const figures =
    lines
      .slice(1)
      .filter((l) => l !== claimLine)
      .join(' ')
      .match(/\d+(?:[.,]\d+)?/g)?.length ?? 0
  const confidence = Math.min(figures, 4) / 4
  const absolute = /\b(always|never|all|every|none|nothing|guaranteed|guarantees|impossible|proves)\b/i.test(claim)
  return {
    source,
    claim,
    confidence,
    verdict: absolute ? 'doubtful' : confidence >= 0.5 ? 'supported' : 'needs-evidence',
  }
}

/** The lineage every successful run must show, whatever order the writes interleaved in. */
function checkLineage(out: Output, sources: string[]): void {
  const n = sources.length
  const { versions, runs } = out
  // Every write kept: the creation, one finding and one assessment per note.
  expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 2 * n + 1 }, (_, i) => i + 1))
  expect(out.report?.version).toBe(2 * n + 1)
  // Each write was based on the version just before it: nothing was overwritten.
  expect(versions.map((v) => v.basedOn)).toEqual([null, ...versions.slice(1).map((v) => v.version - 1)])
  expect(versions[0]).toMatchObject({
    createdBy: 'researcher',
    change: 'created',
    runId: runs.researcher.runId,
    taskId: 'research',
  })
  expect(new Set(versions.map((v) => v.createdBy))).toEqual(new Set(['researcher', 'analyst']))
  for (const v of versions) {
    expect(
      v.createdBy === 'researcher' ? [runs.researcher.runId, 'research'] : [runs.analyst.runId, 'analyse'],
    ).toEqual([v.runId, v.taskId])
  }
  for (const source of sources) {
    const found = versions.filter((v) => v.source === source && v.change === 'finding')
    const assessed = versions.filter((v) => v.source === source && v.change === 'assessment')
    expect([found.map((v) => v.createdBy), assessed.map((v) => v.createdBy)]).toEqual([['researcher'], ['analyst']])
    // The analyst heard of a finding only once it was in the report.
    expect(found[0].version).toBeLessThan(assessed[0].version)
  }
  // The conflicts each agent reports are those recorded with its versions…
  const recorded = (who: string): number =>
    versions.filter((v) => v.createdBy === who).reduce((s, v) => s + v.conflicts, 0)
  expect(out.conflicts).toEqual({
    researcher: recorded('researcher'),
    analyst: recorded('analyst'),
    total: recorded('researcher') + recorded('analyst'),
  })
  expect(out.conflicts.researcher).toBe(runs.researcher.output?.conflicts)
  expect(out.conflicts.analyst).toBe(runs.analyst.output?.conflicts)
  // …and a write that lost a race is built on the other agent's version (each agent writes one at a time).
  for (const v of versions.filter((x) => x.conflicts > 0))
    expect(versions[v.version - 2].createdBy).not.toBe(v.createdBy)
}

const tmp = tempDir('flotilla-research-team-')
beforeAll(() => ensureBuilt())
afterAll(() => tmp.cleanup())

describe('examples/research-team', () => {
  const sources = readdirSync(SOURCES)
    .filter((n) => /\.(md|txt)$/.test(n))
    .sort()
  const expected = sources.map((s) => expectedOf(SOURCES, s))

  it('ships 5 notes whose verdicts cover the three outcomes', () => {
    // The table README.md states, recomputed from the notes.
    expect(expected.map((e) => [e.source, e.confidence, e.verdict])).toEqual([
      ['forage.md', 0.25, 'needs-evidence'],
      ['rooftop-yield.md', 1, 'supported'],
      ['swarm-season.md', 0.75, 'supported'],
      ['varroa.md', 0.25, 'doubtful'],
      ['wild-bees.txt', 0, 'needs-evidence'],
    ])
  })

  it('turns every note into a finding with exactly one assessment, and keeps every write as a version (--json)', async () => {
    const r = await runExample(['--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as Output
    expect(out.state).toBe('SUCCEEDED')
    expect([out.topic, out.folder]).toEqual(['urban beekeeping', SOURCES])
    expect(out.runs.researcher).toMatchObject({ state: 'SUCCEEDED', output: { findings: sources.length } })
    expect(out.runs.analyst).toMatchObject({ state: 'SUCCEEDED', output: { assessed: sources.length } })

    const report = out.report!
    expect(report.topic).toBe('urban beekeeping')
    expect([...report.findings].sort((a, b) => (a.source < b.source ? -1 : 1))).toEqual(
      expected.map(({ source, claim, confidence }) => ({ claim, source, confidence })),
    )
    for (const e of expected) {
      const assessments = report.assessments.filter((a) => a.source === e.source)
      expect(assessments).toHaveLength(1)
      expect(assessments[0]).toMatchObject({ claim: e.claim, verdict: e.verdict })
      expect(assessments[0].reason).not.toBe('')
    }
    expect(report.assessments).toHaveLength(sources.length)
    expect(out.findings.map((f) => [f.source, f.verdict])).toEqual(expected.map((e) => [e.source, e.verdict]))
    checkLineage(out, sources)
  })

  it('prints a readable report', async () => {
    const r = await runExample([])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Research team on "urban beekeeping": 5 findings from ${SOURCES}, 5 assessed`)
    expect(r.stdout).toMatch(/^supported +rooftop-yield\.md +confidence 1$/m)
    expect(r.stdout).toMatch(
      /^doubtful +varroa\.md +confidence 0\.25\n {4}Colonies kept in town never need treatment against varroa mites\.\n {4}specialist: absolute wording \("never"\)/m,
    )
    expect(r.stdout).toMatch(/^needs-evidence +wild-bees\.txt +confidence 0$/m)
    expect(r.stdout).toContain('Versions of "report" (11, oldest first):')
    expect(r.stdout).toMatch(/^ {2}v1 +researcher +- +created +- +run_\w+ \/ research$/m)
    expect(r.stdout).toMatch(/^ {2}v11 +analyst +v10 +assessment \S+ +(-|\d+) +run_\w+ \/ analyse$/m)
    expect(r.stdout).toMatch(
      /^Optimistic-concurrency conflicts resolved: \d+ \(researcher \d+, analyst \d+\); no write was lost\.$/m,
    )
  })

  it('works on a folder of notes of your own, resolved against the current folder, and leaves nothing behind', async () => {
    const cwd = join(tmp.dir, 'own')
    mkdirSync(join(cwd, 'notes'), { recursive: true })
    writeFileSync(
      join(cwd, 'notes', 'a.md'),
      '# Queens\n\nClaim: A new queen always settles within a week.\n\nSeen 3 times.\n',
    )
    writeFileSync(
      join(cwd, 'notes', 'b.txt'),
      'Honey\n\nClaim: Spring honey sets faster than summer honey.\n\nJars: 12, 14, 9 and 30 days.\n',
    )
    writeFileSync(join(cwd, 'notes', 'skipped.json'), '{}')
    const r = await runExample(['notes', '--json'], cwd)
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as Output
    expect(out.folder).toBe(join(cwd, 'notes'))
    const mine = ['a.md', 'b.txt'].map((s) => expectedOf(join(cwd, 'notes'), s))
    expect(mine.map((e) => [e.confidence, e.verdict])).toEqual([
      [0.25, 'doubtful'],
      [1, 'supported'],
    ])
    expect(out.findings.map((f) => [f.source, f.claim, f.confidence, f.verdict])).toEqual(
      mine.map((e) => [e.source, e.claim, e.confidence, e.verdict]),
    )
    checkLineage(out, ['a.md', 'b.txt'])
    // Everything stayed in memory: no database, no workspace folder.
    expect(readdirSync(cwd)).toEqual(['notes'])
  })

  it('exits 1 when the researcher fails, and the waiting analyst is cancelled', async () => {
    const dir = join(tmp.dir, 'bad')
    mkdirSync(dir)
    writeFileSync(join(dir, 'a.md'), '# Notes without a claim\n\nJust 2 figures: 4 and 5.\n')
    const r = await runExample([dir, '--json'])
    expect(r.code, r.stderr).toBe(1)
    const out = JSON.parse(r.stdout) as Output
    expect(out.state).toBe('FAILED')
    expect(out.runs.researcher).toMatchObject({ state: 'FAILED', error: { code: 'TASK_NON_RETRYABLE' } })
    expect(out.runs.researcher.error?.message).toContain('a.md has no title or no "Claim:" line')
    // Cancelled at once, long before its 30 s timeout (this process allows 20 s).
    expect(out.runs.analyst).toMatchObject({ state: 'CANCELLED', error: { code: 'TASK_CANCELLED' } })
    expect([out.report, out.versions]).toEqual([null, []])

    const plain = await runExample([dir])
    expect(plain.code).toBe(1)
    expect(plain.stdout).toBe('')
    expect(plain.stderr).toMatch(/^The researcher run run_\w+: FAILED \[TASK_NON_RETRYABLE\] .*a\.md has no title/m)
    expect(plain.stderr).toMatch(/^The analyst run run_\w+: CANCELLED \[TASK_CANCELLED\]/m)
  })

  it('refuses unknown arguments', async () => {
    const r = await runExample(['a', 'b'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('usage: node run.mjs [folder] [--json]')
  })
})
