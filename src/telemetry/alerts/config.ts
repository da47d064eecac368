import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { FlotillaError } from '../../core/errors.js'
import type { AlertSeverity } from '../../core/events.js'

/** What an alert rule measures. */
export type AlertRuleKind =
  | 'errorRate'
  | 'runCost'
  | 'hourlyCost'
  | 'taskDurationP95'
  | 'budget'
  | 'anomaly'
  | 'deadLetters'

/**
 * One alert rule: what it measures (`kind`), the threshold that raises an
 * alert, and the hysteresis that resolves it. What `threshold` is depends on
 * the kind:
 *
 * - `errorRate`: the share of an agent's last `window` attempts that failed (0–1);
 * - `runCost`: the US dollars one run spent on models;
 * - `hourlyCost`: the US dollars spent on models over the last `windowMs` (an hour by default), all runs together;
 * - `taskDurationP95`: the 95th percentile of an agent's last `window` successful task durations, in ms;
 * - `budget`: the share of a language-model agent's budget spent (0–1; `budget.warning` events come at 0.8);
 * - `anomaly`: the |z-score| of an `agent.anomaly` event (0: every anomaly);
 * - `deadLetters`: the dead letters waiting in an agent's mailbox.
 */
export interface AlertRule {
  /** Unique among the rules; alerts name their rule by it. @default the kind */
  id: string
  kind: AlertRuleKind
  threshold: number
  /** @default 'warning' */
  severity: AlertSeverity
  /**
   * The share of the threshold a value must fall under to resolve an alert:
   * resolved when `value < threshold × (1 − hysteresis)`, so that a value
   * hovering at the threshold does not raise and resolve in turn. @default 0.1
   */
  hysteresis: number
  /** `errorRate`, `taskDurationP95`: how many of the agent's latest attempts are measured. @default 20 (errorRate), 50 (p95) */
  window?: number
  /** `errorRate`, `taskDurationP95`: fewer samples than this raise nothing. @default 5 */
  minSamples?: number
  /** `hourlyCost`: the length of the sliding window, in ms. @default 3600000 */
  windowMs?: number
  /** `anomaly`: an anomaly alert resolves after this long without a new anomaly of the agent, in ms. @default 300000 */
  clearAfterMs?: number
}

/** The webhook alerts are POSTed to (see `docs/observability.md`, "Alerts"). */
export interface AlertWebhookConfig {
  /** `http://` or `https://`. */
  url: string
  /** The shared secret of the HMAC-SHA256 signature; without one, requests are not signed. */
  secret?: string
  /** Attempts per alert event before giving up (logged as an error). @default 5 */
  maxAttempts?: number
  /** The first retry delay in ms, doubled each retry (with jitter), at most 30 s. @default 500 */
  backoffMs?: number
  /** How long one request may take, in ms. @default 5000 */
  timeoutMs?: number
}

/** An alerts configuration, as a file or `PUT /api/v1/alerts/rules` gives it (defaults filled in). */
export interface AlertsConfig {
  rules: AlertRule[]
  webhook?: AlertWebhookConfig
}

/** An alert rule as written: `id`, `severity` and `hysteresis` may be left out. */
export type AlertRuleInput = Omit<AlertRule, 'id' | 'severity' | 'hysteresis'> &
  Partial<Pick<AlertRule, 'id' | 'severity' | 'hysteresis'>>

const KINDS = ['errorRate', 'runCost', 'hourlyCost', 'taskDurationP95', 'budget', 'anomaly', 'deadLetters'] as const
const FRACTION_KINDS: ReadonlySet<string> = new Set(['errorRate', 'budget'])

const ruleSchema = z
  .object({
    id: z
      .string()
      .regex(
        /^[A-Za-z0-9][\w.-]{0,63}$/,
        'must be 1–64 letters, digits, "_", "." or "-", starting with a letter or digit',
      )
      .optional(),
    kind: z.enum(KINDS),
    threshold: z.number().finite().min(0, 'must be ≥ 0'),
    severity: z.enum(['warning', 'critical']).optional(),
    hysteresis: z.number().min(0, 'must be from 0 to 1').max(1, 'must be from 0 to 1').optional(),
    window: z.number().int().min(1).max(10_000).optional(),
    minSamples: z.number().int().min(1).max(10_000).optional(),
    windowMs: z.number().int().min(1000, 'must be at least 1000 ms').optional(),
    clearAfterMs: z.number().int().min(1).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (FRACTION_KINDS.has(r.kind) && r.threshold > 1)
      ctx.addIssue({ code: 'custom', path: ['threshold'], message: `a ${r.kind} threshold is a share from 0 to 1` })
  })

/** The zod schema of an alerts configuration (rules and webhook), as files and the API take it. */
export const alertsConfigSchema = z
  .object({
    rules: z.array(ruleSchema).max(200),
    webhook: z
      .object({
        url: z.string().regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL'),
        secret: z.string().min(16, 'must be at least 16 characters').optional(),
        maxAttempts: z.number().int().min(1).max(20).optional(),
        backoffMs: z.number().int().min(1).max(60_000).optional(),
        timeoutMs: z.number().int().min(1).max(120_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

/**
 * Validates an alerts configuration and fills in its defaults. A bad one
 * throws `ALERTS_CONFIG_INVALID` naming the field (`rules.1.threshold`…)
 * and saying what it must be; `source` (a file name) prefixes the message.
 */
export function parseAlertsConfig(value: unknown, source = 'alerts configuration'): AlertsConfig {
  const parsed = alertsConfigSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue?.path.join('.') || '(root)'
    throw new FlotillaError(
      'ALERTS_CONFIG_INVALID',
      `Invalid ${source}: "${field}" ${issue?.message ?? 'is invalid'}.`,
      {
        details: { field, source },
      },
    )
  }
  const seen = new Set<string>()
  const rules = parsed.data.rules.map((r, i): AlertRule => {
    const rule: AlertRule = {
      ...r,
      id: r.id ?? r.kind,
      severity: r.severity ?? 'warning',
      hysteresis: r.hysteresis ?? 0.1,
    }
    if (seen.has(rule.id))
      throw new FlotillaError(
        'ALERTS_CONFIG_INVALID',
        `Invalid ${source}: "rules.${i}.id" "${rule.id}" is taken by another rule; give each rule of one kind its own id.`,
        { details: { field: `rules.${i}.id`, source } },
      )
    seen.add(rule.id)
    return rule
  })
  const webhook = parsed.data.webhook
  return webhook === undefined ? { rules } : { rules, webhook }
}

/**
 * Reads an alerts configuration from a YAML or JSON file (see
 * {@link parseAlertsConfig}). So that the file need not hold the webhook's
 * secret, `${NAME}` in `webhook.secret` and `webhook.url` is replaced by the
 * environment variable `NAME` (`secret: ${FLOTILLA_ALERTS_SECRET}`).
 */
export async function loadAlertsFile(path: string): Promise<AlertsConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    throw new FlotillaError('FILE_NOT_FOUND', `Cannot read the alerts file ${path}: ${(e as Error).message}`, {
      details: { path },
      cause: e,
    })
  }
  let value: unknown
  try {
    value = parseYaml(text)
  } catch (e) {
    throw new FlotillaError(
      'ALERTS_CONFIG_INVALID',
      `The alerts file ${path} is not YAML or JSON: ${(e as Error).message}`,
      {
        details: { field: '(root)', source: path },
        cause: e,
      },
    )
  }
  return parseAlertsConfig(expandEnv(value, path), `alerts file ${path}`)
}

/** `${NAME}` in the webhook's url and secret, replaced by environment variables (unset: ALERTS_CONFIG_INVALID). */
function expandEnv(value: unknown, path: string): unknown {
  if (typeof value !== 'object' || value === null || !('webhook' in value)) return value
  const webhook = (value as { webhook: unknown }).webhook
  if (typeof webhook !== 'object' || webhook === null) return value
  const out: Record<string, unknown> = { ...(webhook as Record<string, unknown>) }
  for (const key of ['url', 'secret']) {
    const text = out[key]
    if (typeof text !== 'string') continue
    out[key] = text.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
      const v = process.env[name]
      if (v === undefined)
        throw new FlotillaError(
          'ALERTS_CONFIG_INVALID',
          `Invalid alerts file ${path}: "webhook.${key}" names the environment variable ${name}, which is not set.`,
          { details: { field: `webhook.${key}`, source: path } },
        )
      return v
    })
  }
  return { ...(value as Record<string, unknown>), webhook: out }
}
