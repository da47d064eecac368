import type { RouteConfig, RouteHandler } from '@hono/zod-openapi'
import type { Action, Resource } from '../security/authorizer.js'
import type { ServerEnv } from './server-deps.js'

/**
 * Who may call a route: anyone (`public`), or a key whose grants cover
 * `action` on the resource the request names (computed from its validated
 * path parameters).
 */
export type RouteAccess =
  | { readonly public: true }
  | { readonly action: Action; readonly resource: (params: Readonly<Record<string, string>>) => Resource }

/**
 * One route of the HTTP API: its OpenAPI description (request and response
 * schemas), who may call it, what the audit log records when it changes
 * state, and its handler. The route table is the list of these; the
 * authorization matrix test is generated from it, so no route escapes.
 */
export interface ApiRoute<R extends RouteConfig = RouteConfig> {
  readonly config: R
  readonly access: RouteAccess
  /** The audit action (`run.start`, `key.revoke`…) of a state-changing route; reads are not audited. */
  readonly audit?: string
  /** Gets the request typed by `config` (`c.req.valid('param' | 'query' | 'json' | 'header')`); answers with `c.json(…)`. */
  readonly handler: (c: Parameters<RouteHandler<R, ServerEnv>>[0]) => Response | Promise<Response>
}

/** Declares a route, keeping its handler typed by its config. */
export function apiRoute<R extends RouteConfig>(route: ApiRoute<R>): ApiRoute<R> {
  return route
}

/** The grant a route needs, as a resource name and an action, for `params` (the authorization matrix uses it). */
export function requiredGrant(
  route: ApiRoute,
  params: Readonly<Record<string, string>>,
): { resource: Resource; action: Action } | undefined {
  return 'public' in route.access ? undefined : { resource: route.access.resource(params), action: route.access.action }
}
