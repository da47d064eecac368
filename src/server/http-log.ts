import type { MiddlewareHandler } from 'hono'
import { routeLabel } from './route-label.js'
import type { Logger } from '../telemetry/telemetry.js'
import type { ServerEnv } from './server-deps.js'

/**
 * Logs each HTTP request once answered, at `info`: method, route (the
 * pattern, not the path: ids stay out of the line), status and duration in
 * ms. Headers are not logged (the API key travels in one).
 */
export function httpLog(logger: Logger): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const started = performance.now()
    try {
      await next()
    } finally {
      logger.info(
        {
          method: c.req.method,
          route: routeLabel(c),
          status: c.res.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'http request',
      )
    }
  }
}
