// The agents of the content-pipeline example: generate → seo-optimise → publish.
// `flotilla run workflow.yaml` imports this module and registers every agent it exports.
// Plain code, no language model: the same input always gives the same article.
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { defineAgent, nonRetryable } from 'flotilla'

export const DEFAULT_KEYWORDS = ['workflows', 'agents', 'retries']
const META_MAX = 160

const SMALL_WORDS = new Set(['a', 'an', 'and', 'as', 'at', 'by', 'for', 'in', 'of', 'on', 'or', 'the', 'to', 'with'])
/** Each word capitalised, except small words after the first. */
const titleCase = (s) =>
  s
    .trim()
    .split(/\s+/)
    .map((w, i) => (i > 0 && SMALL_WORDS.has(w.toLowerCase()) ? w.toLowerCase() : w[0].toUpperCase() + w.slice(1)))
    .join(' ')
const sentenceList = (items) =>
  items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`

/** Lowercase ASCII words joined by "-" (accents dropped), at most 80 characters. */
export function slugify(text) {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80)
    .replace(/-+$/, '')
  return slug
}

/** How many times `phrase` occurs in `text` as whole words, ignoring case. */
function occurrences(text, phrase) {
  const escaped = phrase.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return (text.toLowerCase().match(new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'gu')) ?? []).length
}

/** The words of a Markdown text, without heading marks and punctuation. */
const words = (markdown) =>
  markdown
    .replace(/^#+\s/gm, '')
    .split(/\s+/)
    .filter((w) => /[\p{L}\p{N}]/u.test(w))

export const generate = defineAgent({
  name: 'generate',
  version: '1.0.0',
  description: 'Writes a Markdown article draft about a topic, one section per keyword.',
  capabilities: ['generate'],
  tags: ['example', 'content'],
  // Extra keys of the run input (outDir, overwrite) are ignored.
  input: z.object({
    topic: z.string().trim().min(1, 'topic must not be empty'),
    keywords: z.array(z.string().trim().min(1)).default(DEFAULT_KEYWORDS),
  }),
  output: z.object({ topic: z.string(), keywords: z.array(z.string()), title: z.string(), markdown: z.string() }),
  handler({ topic, keywords }, ctx) {
    const title = titleCase(topic)
    const about = topic[0].toLowerCase() + topic.slice(1) // "durable workflows in Node.js"
    const kws = [...new Set(keywords.map((k) => k.toLowerCase()))]
    // The draft's heading levels are deliberately uneven (### under #, a second #):
    // seo-optimise puts them right.
    const lines = [
      `# ${title}`,
      '',
      `${title} is easier to get right when ${kws.length > 0 ? sentenceList(kws) : 'the basics'} are understood together. This article explains each of them in turn and shows how they fit into ${about}.`,
      '',
    ]
    kws.forEach((kw, i) => {
      ctx.progress((i + 1) / kws.length, kw)
      lines.push(
        `### ${titleCase(kw)}`,
        '',
        `${titleCase(kw)} matter to ${about} because every later step builds on them. Start with ${kw} that are small and observable, then grow them as the needs become clear.`,
        '',
        `##### Checklist for ${kw}`,
        '',
        `- Write down what ${kw} must achieve.`,
        `- Measure ${kw} before changing them.`,
        `- Review ${kw} after each release.`,
        '',
      )
    })
    lines.push(
      '# Conclusion',
      '',
      `Together, ${kws.length > 0 ? sentenceList(kws) : 'these ideas'} make ${about} dependable.`,
      '',
    )
    return { topic, keywords: kws, title, markdown: lines.join('\n') }
  },
})

/**
 * Heading levels put right: the first heading is the article's only H1 and
 * every other heading sits below it, one level under its parent heading and
 * never skipping a level (`### A` then `##### B` becomes `## A` then `### B`).
 */
function fixHeadings(markdown) {
  const fixes = []
  const parents = [] // { from, to } of the open headings below the title
  let seenTitle = false
  const lines = markdown.split('\n').map((line, i) => {
    const m = /^(#{1,6})\s+(.*)$/.exec(line)
    if (!m) return line
    const from = m[1].length
    let to = 1
    if (seenTitle) {
      while (parents.length > 0 && parents.at(-1).from >= from) parents.pop()
      to = Math.min(6, parents.length === 0 ? 2 : parents.at(-1).to + 1)
      parents.push({ from, to })
    }
    seenTitle = true
    if (to !== from) fixes.push({ line: i + 1, heading: m[2], from, to })
    return `${'#'.repeat(to)} ${m[2]}`
  })
  return { markdown: lines.join('\n'), fixes }
}

/** The first sentence(s) of the intro, at most 160 characters, cut at a word with "…". */
function metaDescription(markdown) {
  const paragraph =
    markdown
      .split('\n\n')
      .map((p) => p.trim())
      .find((p) => p !== '' && !p.startsWith('#') && !p.startsWith('-')) ?? ''
  const text = paragraph.replace(/\s+/g, ' ')
  if (text.length <= META_MAX) return text
  const sentences = text.match(/[^.!?]+[.!?]+/g) ?? []
  let out = ''
  for (const s of sentences) {
    if ((out + s).trim().length > META_MAX) break
    out += s
  }
  if (out.trim() !== '') return out.trim()
  const cut = text.slice(0, META_MAX - 1)
  return `${cut.slice(0, cut.lastIndexOf(' ') > 0 ? cut.lastIndexOf(' ') : cut.length).replace(/[\s,;:]+$/, '')}…`
}

export const seoOptimise = defineAgent({
  name: 'seo-optimise',
  version: '1.0.0',
  description: 'Adds a meta description and a slug, reports keyword density, fixes heading levels.',
  capabilities: ['seo'],
  tags: ['example', 'content'],
  input: z.object({
    topic: z.string().min(1),
    keywords: z.array(z.string()),
    title: z.string().min(1),
    markdown: z.string(),
  }),
  output: z.object({
    slug: z.string().min(1),
    markdown: z.string(),
    meta: z.object({ title: z.string(), description: z.string().max(META_MAX), keywords: z.array(z.string()) }),
    report: z.object({
      words: z.number().int(),
      keywords: z.record(z.string(), z.object({ count: z.number().int(), density: z.number() })),
      headingFixes: z.array(
        z.object({ line: z.number().int(), heading: z.string(), from: z.number().int(), to: z.number().int() }),
      ),
      descriptionLength: z.number().int(),
    }),
  }),
  handler({ topic, keywords, title, markdown }) {
    const slug = slugify(topic)
    if (slug === '')
      throw nonRetryable(new Error(`Cannot make a slug of the topic "${topic}": it has no letters or digits`))
    const fixed = fixHeadings(markdown)
    const total = words(fixed.markdown).length
    const density = {}
    for (const kw of keywords) {
      const count = occurrences(fixed.markdown, kw)
      // Percent of the article's words taken by the keyword (a phrase counts all its words).
      density[kw] = {
        count,
        density: total === 0 ? 0 : Math.round((count * kw.split(/\s+/).length * 10000) / total) / 100,
      }
    }
    const description = metaDescription(fixed.markdown)
    return {
      slug,
      markdown: fixed.markdown,
      meta: { title, description, keywords },
      report: { words: total, keywords: density, headingFixes: fixed.fixes, descriptionLength: description.length },
    }
  },
})

/** A YAML double-quoted scalar. */
const quote = (s) => JSON.stringify(s)

export const publish = defineAgent({
  name: 'publish',
  version: '1.0.0',
  description: 'Writes the article to <outDir>/<slug>.md with front matter; never overwrites unless asked.',
  capabilities: ['publish'],
  tags: ['example', 'files'],
  input: z.object({
    article: z.object({
      slug: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a slug is lowercase letters and digits joined by "-"'),
      markdown: z.string(),
      meta: z.object({ title: z.string(), description: z.string(), keywords: z.array(z.string()) }),
    }),
    outDir: z.string().min(1).default('./out'),
    overwrite: z.boolean().default(false),
  }),
  output: z.object({ path: z.string(), bytes: z.number().int(), slug: z.string() }),
  async handler({ article, outDir, overwrite }, ctx) {
    // A relative outDir is resolved against the current folder of the process.
    const dir = resolve(process.cwd(), outDir)
    const path = join(dir, `${article.slug}.md`)
    const { meta } = article
    const text = [
      '---',
      `title: ${quote(meta.title)}`,
      `slug: ${quote(article.slug)}`,
      `description: ${quote(meta.description)}`,
      `keywords: [${meta.keywords.map(quote).join(', ')}]`,
      '---',
      '',
      article.markdown.endsWith('\n') ? article.markdown : `${article.markdown}\n`,
    ].join('\n')
    ctx.signal.throwIfAborted()
    await mkdir(dir, { recursive: true })
    ctx.signal.throwIfAborted()
    try {
      // 'wx' fails if the file exists: no check-then-write race.
      await writeFile(path, text, { flag: overwrite ? 'w' : 'wx', signal: ctx.signal })
    } catch (e) {
      if (e?.code === 'EEXIST')
        throw nonRetryable(new Error(`${path} already exists; run again with --input overwrite=true to replace it`))
      throw e
    }
    ctx.log.info(`published ${path}`)
    return { path, bytes: Buffer.byteLength(text), slug: article.slug }
  },
})
