import { randomUUID } from 'node:crypto'
import { httpLog } from './http-log.js'
import { noopLogger } from '../telemetry/telemetry.js'
import { OpenAPIHono } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { resourceName } from '../security/authorizer.js'
import { requiredGrant, type ApiRoute } from './api-route.js'
import { onApiError, validationHook } from './http-errors.js'
import { mountDashboard, type DashboardAssets } from './dashboard.js'
import { httpMetrics, mountMetrics } from './metrics-route.js'
import { apiReferencePage } from './reference-page.js'
import { API_ROUTES } from './routes/index.js'
import type { ServerDeps, ServerEnv } from './server-deps.js'

/** Where the API is mounted. */
export const API_BASE = '/api/v1'

const API_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Flotilla API',
    version: 'v1',
    description: 'Runs, workflows, agents, shared context and security of a Flotilla service.',
  },
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Deepest nesting of arrays and objects a JSON body may have. */
export const MAX_BODY_DEPTH = 64

/**
 * Refuses a JSON body nested deeper than {@link MAX_BODY_DEPTH} before
 * anything parses it (a scan of the text, strings skipped), so no deep
 * value reaches a parser, a validator or the store.
 */
const checkBodyDepth: MiddlewareHandler<ServerEnv> = async (c, next) => {
  if (c.req.method !== 'POST' && c.req.method !== 'PUT' && c.req.method !== 'PATCH') return next()
  const text = await c.req.text()
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (inString) {
      if (ch === 92)
        i++ // backslash: skip the escaped character
      else if (ch === 34) inString = false
    } else if (ch === 34) inString = true
    else if (ch === 123 || ch === 91) {
      if (++depth > MAX_BODY_DEPTH)
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `The request body is nested deeper than ${MAX_BODY_DEPTH} levels of arrays and objects.`,
          { details: { field: '(body)', maxDepth: MAX_BODY_DEPTH } },
        )
    } else if (ch === 125 || ch === 93) depth--
  }
  return next()
}

/** The key of a request: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
function presentedKey(header: (name: string) => string | undefined): string | undefined {
  const auth = header('authorization')
  if (auth !== undefined && auth.trim() !== '') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth)
    if (m === null)
      throw new FlotillaError('AUTH_INVALID', 'The Authorization header must be "Bearer <key>".', {
        details: { reason: 'malformed Authorization header' },
      })
    return m[1]
  }
  const key = header('x-api-key')
  return key === undefined || key.trim() === '' ? undefined : key.trim()
}

/**
 * Request id, client address, rate limits and blocks, then the key (if one
 * is given): a wrong key is audited and counted toward a block. Whether a
 * key is needed is the route's business (see {@link accessCheck}).
 */
function authenticate(deps: ServerDeps, address: (c: Parameters<MiddlewareHandler<ServerEnv>>[0]) => string) {
  const open = new Set([`${API_BASE}/health`, `${API_BASE}/ready`])
  const mw: MiddlewareHandler<ServerEnv> = async (c, next) => {
    const given = c.req.header('x-request-id')
    const requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID()
    c.set('requestId', requestId)
    c.set('deps', deps)
    c.set('principal', undefined)
    c.header('X-Request-Id', requestId)
    const ip = address(c)
    c.set('ip', ip)
    if (open.has(c.req.path)) return next()
    const key = presentedKey((n) => c.req.header(n))
    // The address is limited first; a key only once it is proven, so a forged key naming
    // someone's key id cannot spend that key's limit or get it blocked.
    await deps.guard.admit({ ip })
    if (key !== undefined) {
      try {
        const principal = await deps.keys.authenticate(key)
        await deps.guard.admitKey(principal.keyId)
        c.set('principal', principal)
      } catch (e) {
        if (isFlotillaError(e) && e.code === 'AUTH_INVALID') {
          const keyId = /^flt_([a-z0-9]{12})_/.exec(key)?.[1]
          await deps.audit.record({
            actor: `ip:${ip}`,
            action: 'auth.fail',
            resource: keyId === undefined ? 'key:?' : `key:${keyId}`,
            outcome: 'failed',
            requestId,
            details: {
              reason: (e.details as { reason?: string } | undefined)?.reason ?? 'unknown key or wrong secret',
            },
          })
          await deps.guard.failed({ ip }, 'auth', requestId)
        }
        throw e
      }
    }
    return next()
  }
  return mw
}

/** The route's access rule, run before its input is validated: no key → 401, a key without the grant → 403 (audited). */
function accessCheck(route: ApiRoute): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const grant = requiredGrant(route, c.req.param() as Record<string, string>)
    if (grant === undefined) return next()
    const principal = c.get('principal')
    if (principal === undefined)
      throw new FlotillaError(
        'AUTH_REQUIRED',
        'This call needs an API key: send "Authorization: Bearer flt_…" or "X-API-Key: flt_…".',
      )
    const deps = c.get('deps')
    const decision = deps.authorizer.decide(principal, grant.resource, grant.action)
    if (!decision.allowed) {
      await deps.audit.record({
        actor: principal.name,
        action: route.audit ?? `${grant.action}`,
        resource: resourceName(grant.resource),
        outcome: 'denied',
        requestId: c.get('requestId'),
        details: { role: principal.role, action: grant.action },
      })
      await deps.guard.failed({ keyId: principal.keyId }, 'denied', c.get('requestId'))
      throw new FlotillaError(
        'PERMISSION_DENIED',
        `Key "${principal.keyId}" (${principal.role}) may not ${grant.action} "${decision.resource}". Ask an ADMIN for a key whose role or scopes grant it.`,
        {
          details: { key: principal.keyId, resource: decision.resource, action: grant.action, reason: decision.reason },
        },
      )
    }
    await next()
    if (route.audit !== undefined) {
      await deps.audit.record({
        actor: principal.name,
        action: route.audit,
        resource: resourceName(grant.resource),
        outcome: c.res.status < 400 ? 'succeeded' : 'failed',
        requestId: c.get('requestId'),
        details: { status: c.res.status, ...c.get('auditDetails') },
      })
    }
  }
}

/**
 * The HTTP API as a Hono app (`app.fetch` is a standard fetch handler):
 * every route of {@link API_ROUTES} under `/api/v1`, the OpenAPI 3.1
 * document at `/api/v1/openapi.json` and a reference page at `/api/v1/docs`.
 */
export function createApiApp(
  deps: ServerDeps,
  options: {
    address?: (c: Parameters<MiddlewareHandler<ServerEnv>>[0]) => string
    /** The web dashboard to serve at `/` (see {@link mountDashboard}); none when absent. */
    dashboard?: DashboardAssets
  } = {},
): OpenAPIHono<ServerEnv> {
  const app = new OpenAPIHono<ServerEnv>({ defaultHook: validationHook })
  app.onError((e, c) => onApiError(e, c))
  app.notFound((c) =>
    c.json(
      {
        error: {
          code: 'ROUTE_NOT_FOUND',
          message: `No route ${c.req.method} ${c.req.path}. ${API_BASE}/openapi.json lists them.`,
          details: {},
        },
      },
      404,
    ),
  )
  if (deps.metrics !== undefined) app.use('*', httpMetrics(deps.metrics.meter))
  if (deps.logger !== noopLogger) app.use('*', httpLog(deps.logger))
  const authenticated = authenticate(deps, options.address ?? (() => 'unknown'))
  app.use(`${API_BASE}/*`, authenticated)
  if (deps.metrics !== undefined) mountMetrics(app, authenticated, deps.metrics)
  app.use(
    `${API_BASE}/*`,
    bodyLimit({
      maxSize: deps.maxBodyBytes ?? 1024 * 1024,
      onError: () => {
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `The request body is larger than ${deps.maxBodyBytes ?? 1024 * 1024} bytes.`,
          { details: { field: '(body)' } },
        )
      },
    }),
  )
  app.use(`${API_BASE}/*`, checkBodyDepth)
  for (const route of API_ROUTES) {
    const config = { ...route.config, path: `${API_BASE}${route.config.path}`, middleware: [accessCheck(route)] }
    app.openapi(config, route.handler as never)
  }
  const document = API_DOCUMENT
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key flt_<id>_<secret>, as Authorization: Bearer <key> or X-API-Key: <key>.',
  })
  app.doc31(`${API_BASE}/openapi.json`, { ...document, security: [{ apiKey: [] }] })
  app.get(`${API_BASE}/docs`, (c) =>
    c.html(apiReferencePage(app.getOpenAPI31Document(document) as Parameters<typeof apiReferencePage>[0])),
  )
  if (options.dashboard !== undefined) mountDashboard(app, options.dashboard)
  return app
}

/**
 * The OpenAPI 3.1 document of the API, as `/api/v1/openapi.json` serves it
 * (`schema/openapi.json` is this, and the typed client is generated from it).
 */
export function openApiDocument(): ReturnType<OpenAPIHono['getOpenAPI31Document']> {
  // Building the app touches no dependency: they are read per request.
  const app = createApiApp({} as ServerDeps)
  return app.getOpenAPI31Document({ ...API_DOCUMENT, security: [{ apiKey: [] }] })
}
