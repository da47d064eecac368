import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, ROOT, runCli, tempDir } from '../cli/run-cli.js'

const WORKFLOW = join(ROOT, 'examples/content-pipeline/workflow.yaml')
const TOPIC = 'Durable workflows in Node.js'
const SLUG = 'durable-workflows-in-node-js'

interface Published {
  path: string
  bytes: number
  slug: string
}
interface Seo {
  slug: string
  markdown: string
  meta: { title: string; description: string; keywords: string[] }
  report: {
    words: number
    keywords: Record<string, { count: number; density: number }>
    headingFixes: { from: number; to: number }[]
    descriptionLength: number
  }
}
interface RunJson {
  state: string
  error?: { code: string; message: string }
  outputs: {
    article?: {
      output: Published
      stages: { draft: { title: string; markdown: string }; seo: Seo; publish: Published }
    }
  }
  tasks: Record<string, { state: string; attempts: number; error?: { code: string; message: string } }>
}

const tmp = tempDir('flotilla-content-pipeline-')

beforeAll(() => ensureBuilt())
afterAll(() => tmp.cleanup())

function run(outDir: string, ...extra: string[]): ReturnType<typeof runCli> {
  return runCli([
    'run',
    WORKFLOW,
    '--store',
    'memory',
    '--json',
    '--input',
    `outDir=${outDir}`,
    '--input',
    `topic=${TOPIC}`,
    ...extra,
  ])
}

/** The headings of a Markdown text, as [level, text]. */
const headings = (md: string): [number, string][] => [...md.matchAll(/^(#+) (.*)$/gm)].map((m) => [m[1].length, m[2]])

describe('examples/content-pipeline', () => {
  it('generates, optimises and publishes an article with front matter, keeping every stage', async () => {
    const outDir = join(tmp.dir, 'first')
    const r = await run(outDir)
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as RunJson
    expect(out.state).toBe('SUCCEEDED')
    expect(Object.keys(out.tasks).sort()).toEqual(['article', 'article__draft', 'article__publish', 'article__seo'])

    const article = out.outputs.article!
    expect(Object.keys(article.stages).sort()).toEqual(['draft', 'publish', 'seo'])
    const file = join(outDir, `${SLUG}.md`)
    expect(article.output).toEqual({ path: file, bytes: statSync(file).size, slug: SLUG })
    expect(article.stages.publish).toEqual(article.output)
    expect(readdirSync(outDir)).toEqual([`${SLUG}.md`])

    // The draft: a section per default keyword, with uneven heading levels on purpose.
    const { draft, seo } = article.stages
    expect(draft.title).toBe('Durable Workflows in Node.js')
    expect(headings(draft.markdown).map(([l]) => l)).toEqual([1, 3, 5, 3, 5, 3, 5, 1])

    // SEO: slug, meta description within 160 characters, keyword report, headings fixed.
    expect(seo.slug).toBe(SLUG)
    expect(seo.meta.description.length).toBeGreaterThan(0)
    expect(seo.meta.description.length).toBeLessThanOrEqual(160)
    expect(seo.report.descriptionLength).toBe(seo.meta.description.length)
    expect(seo.meta.keywords).toEqual(['workflows', 'agents', 'retries'])
    for (const kw of seo.meta.keywords) {
      const count = seo.markdown
        .toLowerCase()
        .split(/[^a-z]+/)
        .filter((w) => w === kw).length
      expect(seo.report.keywords[kw].count, kw).toBe(count)
      expect(seo.report.keywords[kw].density, kw).toBeCloseTo((100 * count) / seo.report.words, 2)
    }
    expect(headings(seo.markdown)).toEqual([
      [1, 'Durable Workflows in Node.js'],
      [2, 'Workflows'],
      [3, 'Checklist for workflows'],
      [2, 'Agents'],
      [3, 'Checklist for agents'],
      [2, 'Retries'],
      [3, 'Checklist for retries'],
      [2, 'Conclusion'],
    ])
    expect(seo.report.headingFixes).toHaveLength(7)

    // The published file: front matter, then the optimised Markdown.
    const text = readFileSync(file, 'utf8')
    const front = /^---\n([\s\S]*?)\n---\n\n/.exec(text)
    expect(front).not.toBeNull()
    expect(front![1].split('\n')).toEqual([
      'title: "Durable Workflows in Node.js"',
      `slug: "${SLUG}"`,
      `description: ${JSON.stringify(seo.meta.description)}`,
      'keywords: ["workflows", "agents", "retries"]',
    ])
    expect(text.slice(front![0].length)).toBe(seo.markdown)
  })

  it('refuses to overwrite a published article (TASK_NON_RETRYABLE, exit 1) unless overwrite=true', async () => {
    const outDir = join(tmp.dir, 'twice')
    const first = await run(outDir)
    expect(first.code, first.stderr).toBe(0)
    const file = join(outDir, `${SLUG}.md`)
    const original = readFileSync(file, 'utf8')

    const second = await run(outDir, '--input', 'keywords=["retries","checkpoints"]')
    expect(second.code).toBe(1)
    const out = JSON.parse(second.stdout) as RunJson
    expect(out.state).toBe('FAILED')
    expect(out.error?.code).toBe('TASK_NON_RETRYABLE')
    expect(out.tasks.article__publish.state).toBe('FAILED')
    expect(out.tasks.article__publish.attempts).toBe(1) // not retried despite retry.maxAttempts 3
    expect(out.tasks.article__publish.error?.message).toContain('already exists')
    expect(readFileSync(file, 'utf8')).toBe(original)

    const third = await run(outDir, '--input', 'keywords=["retries","checkpoints"]', '--input', 'overwrite=true')
    expect(third.code, third.stderr).toBe(0)
    const replaced = readFileSync(file, 'utf8')
    expect(replaced).not.toBe(original)
    expect(replaced).toContain('keywords: ["retries", "checkpoints"]')
    expect(replaced).toContain('\n## Checkpoints\n')
  })

  it('resolves the default outDir ./out against the current folder, and needs a topic', async () => {
    const cwd = join(tmp.dir, 'cwd')
    mkdirSync(cwd)
    const r = await runCli(
      [
        'run',
        WORKFLOW,
        '--store',
        'memory',
        '--json',
        '--input',
        'topic=A very long topic about the many ways to keep long running agent workflows reliable',
      ],
      { cwd },
    )
    expect(r.code, r.stderr).toBe(0)
    const seo = (JSON.parse(r.stdout) as RunJson).outputs.article!.stages.seo
    expect(existsSync(join(cwd, 'out', `${seo.slug}.md`))).toBe(true)
    expect(seo.meta.description.length).toBeLessThanOrEqual(160)
    expect(seo.meta.description).toMatch(/^A Very Long Topic About the Many Ways .* understood…$/) // cut at a word

    const missing = await runCli(['run', WORKFLOW, '--store', 'memory', '--json'], { cwd })
    expect(missing.code).not.toBe(0)
    expect(missing.stdout + missing.stderr).toContain('needs input "topic"')
  })
})
