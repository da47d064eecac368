// The agents of the research-team example: a researcher that publishes
// findings, an analyst that consults a specialist about each one, and the
// specialist. Researcher and analyst both write the shared artifact `report`.
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { defineAgent, isFlotillaError, nonRetryable } from 'flotilla'

/** The shared artifact both writers build on. */
export const REPORT = 'report'

/** Cited figures that give a finding full confidence: confidence = min(figures, 4) / 4. */
export const FIGURES_FOR_FULL_CONFIDENCE = 4

/** Confidence from which the specialist calls a cautiously worded claim supported. */
export const SUPPORT_THRESHOLD = 0.5

/** Words that make a claim absolute: one counter-example refutes it. */
export const ABSOLUTE_WORDS = new Set([
  'always',
  'never',
  'all',
  'every',
  'none',
  'nothing',
  'guaranteed',
  'guarantees',
  'impossible',
  'proves',
])

/** Attempts of one optimistic-concurrency write before giving up. */
const MAX_WRITE_ATTEMPTS = 10

/**
 * A source note: a title (the first non-empty line, without a leading `#`),
 * a line `Claim: …`, and the evidence (every other line). The confidence is
 * the share of {@link FIGURES_FOR_FULL_CONFIDENCE} figures the evidence cites
 * (numbers such as 52, 2023 or 1.5; those of the title and the claim do not count).
 */
export function parseNote(text) {
  const lines = text.split(/\r?\n/)
  const titleAt = lines.findIndex((l) => l.trim() !== '')
  const claimAt = lines.findIndex((l) => /^Claim:/.test(l))
  if (titleAt === -1 || claimAt === -1 || claimAt === titleAt) return undefined
  const evidence = lines.filter((_, i) => i !== titleAt && i !== claimAt).join('\n')
  const figures = (evidence.match(/\d+(?:[.,]\d+)?/g) ?? []).length
  return {
    title: lines[titleAt].replace(/^#+\s*/, '').trim(),
    claim: lines[claimAt].slice('Claim:'.length).trim(),
    figures,
    confidence: Math.min(figures, FIGURES_FOR_FULL_CONFIDENCE) / FIGURES_FOR_FULL_CONFIDENCE,
  }
}

/** The specialist's rule: absolute wording is doubtful, else the confidence decides. */
export function judge(claim, confidence) {
  const absolute = claim
    .toLowerCase()
    .split(/[^\p{L}]+/u)
    .find((w) => ABSOLUTE_WORDS.has(w))
  if (absolute !== undefined)
    return { verdict: 'doubtful', reason: `absolute wording ("${absolute}"): one counter-example refutes it` }
  if (confidence >= SUPPORT_THRESHOLD)
    return {
      verdict: 'supported',
      reason: `confidence ${confidence} ≥ ${SUPPORT_THRESHOLD}: the note cites figures for it`,
    }
  return { verdict: 'needs-evidence', reason: `confidence ${confidence} < ${SUPPORT_THRESHOLD}: too few cited figures` }
}

const findingSchema = z.object({
  topic: z.string(),
  claim: z.string().min(1),
  source: z.string().min(1),
  confidence: z.number().min(0).max(1),
})
const verdictSchema = z.enum(['supported', 'needs-evidence', 'doubtful'])
const reportSchema = z.object({
  topic: z.string(),
  findings: z.array(findingSchema.omit({ topic: true })),
  assessments: z.array(z.object({ source: z.string(), claim: z.string(), verdict: verdictSchema, reason: z.string() })),
})

/**
 * Applies `change` to the latest report and writes it with `basedOn` that
 * version. When another writer got there first (`ARTIFACT_CONFLICT`), reads
 * the new latest and applies the change again: nobody's write is lost.
 * `change` returns the new content, or `undefined` when there is nothing to
 * do (the change is already in, e.g. after a retried task). Returns how many
 * conflicts it resolved.
 */
async function updateReport(ctx, metadata, change) {
  for (let attempt = 1; ; attempt++) {
    ctx.signal.throwIfAborted()
    const latest = await ctx.artifacts.get(REPORT)
    const next = change(reportSchema.parse(latest.content))
    if (next === undefined) return attempt - 1
    try {
      // The metadata records, in the lineage, how many conflicts this write resolved.
      await ctx.artifacts.put(REPORT, next, {
        basedOn: latest.version,
        metadata: { ...metadata, conflicts: attempt - 1 },
      })
      return attempt - 1
    } catch (err) {
      if (!isFlotillaError(err) || err.code !== 'ARTIFACT_CONFLICT' || attempt === MAX_WRITE_ATTEMPTS) throw err
      ctx.log.debug(`${REPORT} v${latest.version} is stale (latest v${err.details?.latest}); reading it again`)
    }
  }
}

export const researcher = defineAgent({
  name: 'researcher',
  version: '1.0.0',
  description:
    'Reads source notes, adds one finding per note to the shared report and publishes it as a `finding` event.',
  capabilities: ['research'],
  tags: ['example', 'team'],
  // What it reaches through ctx; anything else is PERMISSION_DENIED.
  permissions: [
    { resource: `artifact:${REPORT}`, actions: ['read', 'write'] },
    { resource: 'event:{finding,research.done}', actions: ['publish'] },
  ],
  input: z.object({ topic: z.string().min(1), folder: z.string().min(1) }),
  output: z.object({ topic: z.string(), findings: z.number().int(), conflicts: z.number().int() }),
  async handler({ topic, folder }, ctx) {
    const names = (await readdir(folder)).filter((n) => /\.(md|txt)$/.test(n)).sort()
    if (names.length === 0) throw nonRetryable(new Error(`${folder} holds no .md or .txt notes`))
    // Every note is read first, so a malformed one fails the run before anyone hears of a finding.
    const findings = []
    for (const source of names) {
      const note = parseNote(await readFile(join(folder, source), { encoding: 'utf8', signal: ctx.signal }))
      if (note === undefined) throw nonRetryable(new Error(`${source} has no title or no "Claim:" line`))
      findings.push({ claim: note.claim, source, confidence: note.confidence })
    }
    // Version 1: the empty report. It exists already when this is a retried attempt.
    try {
      await ctx.artifacts.put(
        REPORT,
        { topic, findings: [], assessments: [] },
        { basedOn: null, metadata: { change: 'created', conflicts: 0 } },
      )
    } catch (err) {
      if (!isFlotillaError(err) || err.code !== 'ARTIFACT_CONFLICT') throw err
    }
    let conflicts = 0
    for (const [i, finding] of findings.entries()) {
      const { source } = finding
      conflicts += await updateReport(ctx, { change: 'finding', source }, (report) =>
        report.findings.some((f) => f.source === source)
          ? undefined
          : { ...report, findings: [...report.findings, finding] },
      )
      // Published once the finding is in the report, so whoever hears of it can find it there.
      await ctx.publish('finding', { topic, ...finding })
      ctx.progress((i + 1) / findings.length, source)
    }
    await ctx.publish('research.done', { topic, count: findings.length })
    return { topic, findings: findings.length, conflicts }
  },
})

export const analyst = defineAgent({
  name: 'analyst',
  version: '1.0.0',
  description:
    'Subscribes to findings on a topic, consults the specialist about each and adds its assessment to the shared report.',
  capabilities: ['analysis'],
  tags: ['example', 'team'],
  permissions: [
    { resource: `artifact:${REPORT}`, actions: ['read', 'write'] },
    { resource: 'event:{finding,research.done}', actions: ['subscribe'] },
    { resource: 'event:analyst.ready', actions: ['publish'] },
    { resource: 'agent:specialist', actions: ['request'] },
  ],
  input: z.object({ topic: z.string().min(1), consultTimeoutMs: z.number().int().positive().default(10_000) }),
  output: z.object({ topic: z.string(), assessed: z.number().int(), conflicts: z.number().int() }),
  async handler({ topic, consultTimeoutMs }, ctx) {
    // Events are not durable: a finding published before the subscription
    // would be missed, hence `analyst.ready` once both subscriptions stand.
    const inbox = []
    let expected // the count research.done announces
    let wake
    let changed = new Promise((resolve) => (wake = resolve))
    const subscriptions = []
    let stop
    const aborted = new Promise((_, reject) => (stop = () => reject(ctx.signal.reason ?? new Error('aborted'))))
    aborted.catch(() => undefined) // raced below; unobserved when the analyst finishes first
    if (ctx.signal.aborted) stop()
    else ctx.signal.addEventListener('abort', stop, { once: true })
    try {
      subscriptions.push(
        await ctx.subscribe('finding', { where: { topic } }, (e) => {
          inbox.push(e.data)
          wake()
        }),
      )
      subscriptions.push(
        await ctx.subscribe('research.done', { where: { topic } }, (e) => {
          expected = e.data.count
          wake()
        }),
      )
      await ctx.publish('analyst.ready', { topic })

      let assessed = 0
      let conflicts = 0
      while (expected === undefined || assessed < expected) {
        if (inbox.length === 0) {
          await Promise.race([changed, aborted])
          changed = new Promise((resolve) => (wake = resolve))
          continue
        }
        const finding = findingSchema.parse(inbox.shift())
        const reply = await ctx.request(
          'specialist',
          { claim: finding.claim, confidence: finding.confidence },
          { timeoutMs: consultTimeoutMs },
        )
        const { verdict, reason } = z.object({ verdict: verdictSchema, reason: z.string() }).parse(reply)
        const assessment = { source: finding.source, claim: finding.claim, verdict, reason }
        conflicts += await updateReport(ctx, { change: 'assessment', source: finding.source }, (report) =>
          report.assessments.some((a) => a.source === finding.source)
            ? undefined
            : { ...report, assessments: [...report.assessments, assessment] },
        )
        assessed++
        ctx.progress(expected === undefined ? 0 : assessed / expected, finding.source)
      }
      return { topic, assessed, conflicts }
    } finally {
      ctx.signal.removeEventListener('abort', stop)
      for (const s of subscriptions) await s.unsubscribe()
    }
  },
})

export const specialist = defineAgent({
  name: 'specialist',
  version: '1.0.0',
  description:
    'Rule-based check of a claim: supported, needs-evidence or doubtful, with a reason (no network, no model).',
  capabilities: ['fact-check'],
  tags: ['example', 'team'],
  input: z.object({ claim: z.string().min(1), confidence: z.number().min(0).max(1) }),
  output: z.object({ verdict: verdictSchema, reason: z.string() }),
  handler: ({ claim, confidence }) => judge(claim, confidence),
})
