import type { Context } from 'hono'
import { matchedRoutes } from 'hono/route'

/**
 * The route pattern a request was answered by, for metrics and logs
 * (`/api/v1/runs/:id`), or `(unmatched)`. Middlewares and catch-all routes
 * (the dashboard's fallback to `index.html`) match every path, so the last
 * route of the request that is neither is the one that answered it.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c)
  for (let i = routes.length - 1; i >= 0; i--) {
    const { path, method } = routes[i]
    if (method !== 'ALL' && path !== '' && !path.endsWith('*')) return path
  }
  return '(unmatched)'
}
