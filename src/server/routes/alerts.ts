import { createRoute, z } from '@hono/zod-openapi'
import { parseAlertsConfig, type AlertsConfig } from '../../telemetry/alerts/config.js'
import { saveAlertRules } from '../alert-rules.js'
import { apiRoute } from '../api-route.js'
import { errorResponses, json } from '../schemas.js'
import { streamAgentEvents } from '../team-events.js'

const AlertSchema = z
  .object({
    id: z.string().openapi({ example: 'alr_3f2a9c…' }),
    rule: z.string().openapi({ description: 'The id of the rule that raised it' }),
    severity: z.enum(['warning', 'critical']),
    state: z.enum(['raised', 'resolved']),
    message: z.string(),
    subject: z.object({ agent: z.string().optional(), run: z.string().optional() }),
    value: z.number().openapi({ description: 'The value measured when raised (once resolved: when resolved)' }),
    threshold: z.number(),
    raisedAt: z.number().openapi({ description: 'Milliseconds since the epoch' }),
    resolvedAt: z.number().optional().openapi({ description: 'Milliseconds since the epoch; set once resolved' }),
  })
  .openapi('Alert')

const KINDS = ['errorRate', 'runCost', 'hourlyCost', 'taskDurationP95', 'budget', 'anomaly', 'deadLetters'] as const

const AlertRuleSchema = z
  .object({
    id: z.string(),
    kind: z.enum(KINDS),
    threshold: z.number(),
    severity: z.enum(['warning', 'critical']),
    hysteresis: z.number(),
    window: z.number().optional(),
    minSamples: z.number().optional(),
    windowMs: z.number().optional(),
    clearAfterMs: z.number().optional(),
  })
  .openapi('AlertRule')

const AlertRulesSchema = z
  .object({
    rules: z.array(AlertRuleSchema),
    webhook: z
      .object({
        url: z.string(),
        signed: z
          .boolean()
          .openapi({ description: 'True when a secret signs the requests (the secret is never shown)' }),
        maxAttempts: z.number().optional(),
        backoffMs: z.number().optional(),
        timeoutMs: z.number().optional(),
      })
      .optional(),
  })
  .openapi('AlertRules')

const AlertRulesInput = z
  .object({
    rules: z.array(z.record(z.string(), z.unknown())).max(200),
    webhook: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('AlertRulesInput', {
    description:
      'Rules as in an alerts file (docs/observability.md, "Alerts"); checked in full, a bad field answers ALERTS_CONFIG_INVALID naming it. A webhook given without `secret` keeps the secret in force when its URL is unchanged.',
  })

/** The rules and webhook as the API shows them: the secret is never sent back. */
function shown(config: AlertsConfig): z.infer<typeof AlertRulesSchema> {
  if (config.webhook === undefined) return { rules: config.rules }
  const { secret, ...webhook } = config.webhook
  return { rules: config.rules, webhook: { ...webhook, signed: secret !== undefined } }
}

/** Alerts, their rules, and their live events. */
export const alertRoutes = [
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/alerts',
      tags: ['alerts'],
      summary: 'Alerts: those raised (newest first), then the latest resolved ones',
      request: { query: z.object({ state: z.enum(['raised', 'resolved']).optional() }) },
      responses: { 200: json(z.object({ alerts: z.array(AlertSchema) }), 'Alerts'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'run', id: '*' }) },
    handler: (c) => {
      const { state } = c.req.valid('query')
      return c.json({ alerts: c.get('deps').alerts.alerts(state === undefined ? {} : { state }) }, 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/alerts/rules',
      tags: ['alerts'],
      summary: 'The alert rules and webhook in force (ADMIN)',
      responses: { 200: json(AlertRulesSchema, 'Rules'), ...errorResponses },
    }),
    access: { action: 'read', resource: () => ({ kind: 'alerts' }) },
    handler: (c) => c.json(shown(c.get('deps').alerts.rules()), 200),
  }),
  apiRoute({
    config: createRoute({
      method: 'put',
      path: '/alerts/rules',
      tags: ['alerts'],
      summary:
        'Replaces the alert rules and webhook (ADMIN); alerts of removed or changed rules are resolved. Stored: the server starts with them again (unless started with an alerts file, which wins).',
      request: { body: { required: true, content: { 'application/json': { schema: AlertRulesInput } } } },
      responses: { 200: json(AlertRulesSchema, 'The rules now in force'), ...errorResponses },
    }),
    access: { action: 'write', resource: () => ({ kind: 'alerts' }) },
    audit: 'alerts.rules.set',
    handler: async (c) => {
      const deps = c.get('deps')
      const monitor = deps.alerts
      const body = c.req.valid('json')
      const current = monitor.rules().webhook
      const webhook = body.webhook
      const keep =
        webhook !== undefined &&
        webhook.secret === undefined &&
        current?.secret !== undefined &&
        webhook.url === current.url
      // Checked in full, then stored, then put in force: a refused body or a failed write changes nothing.
      const config = parseAlertsConfig(keep ? { ...body, webhook: { ...webhook, secret: current.secret } } : body)
      const stored = await saveAlertRules(deps.client.store, config)
      const next = monitor.setRules(config)
      c.set('auditDetails', { rules: next.rules.map((r) => r.id), webhook: next.webhook?.url ?? null, stored })
      return c.json(shown(next), 200)
    },
  }),
  apiRoute({
    config: createRoute({
      method: 'get',
      path: '/events/alerts',
      tags: ['alerts'],
      summary: 'Live alert events (alert.raised, alert.resolved) as server-sent events; live only, not resumable',
      responses: {
        200: {
          description: 'Server-sent events: `event` the event type, `data` the event as JSON (`{ type, at, alert }`)',
          content: { 'text/event-stream': { schema: z.string() } },
        },
        ...errorResponses,
      },
    }),
    access: { action: 'read', resource: () => ({ kind: 'run', id: '*' }) },
    handler: (c) => streamAgentEvents(c, (listener) => c.get('deps').alerts.on(listener)),
  }),
]
