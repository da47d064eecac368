import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Hono } from 'hono'
import { FlotillaError } from '../core/errors.js'
import type { ServerEnv } from './server-deps.js'

/** The built files of the web dashboard, read once into memory (a few hundred kB). */
export interface DashboardAssets {
  /** The folder they were read from. */
  readonly dir: string
  /** URL path (`/index.html`, `/assets/index-1a2b3c.js`) → body and content type. */
  readonly files: ReadonlyMap<string, { body: Uint8Array; type: string }>
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * Where the built dashboard is: `dist/ui` next to the compiled server
 * (`dist/server/../ui`), or, when the server runs from its TypeScript
 * sources (tests), the package's `dist/ui`. Undefined when neither holds an
 * `index.html` (the package was not built).
 */
export function defaultDashboardDir(): string | undefined {
  const candidates = [new URL('../ui/', import.meta.url), new URL('../../dist/ui/', import.meta.url)]
  for (const url of candidates) {
    const dir = fileURLToPath(url)
    if (existsSync(join(dir, 'index.html'))) return dir
  }
  return undefined
}

/** Reads every file under `dir` (which must hold `index.html`). */
export function loadDashboard(dir: string): DashboardAssets {
  if (!existsSync(join(dir, 'index.html')))
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `The dashboard folder ${dir} holds no index.html: give the folder "npm run build" writes (dist/ui), or dashboard: false.`,
      { details: { field: 'dashboard', dir } },
    )
  const files = new Map<string, { body: Uint8Array; type: string }>()
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name)
      if (statSync(path).isDirectory()) walk(path)
      else
        files.set(`/${relative(dir, path).split(sep).join('/')}`, {
          body: readFileSync(path),
          type: TYPES[extname(name)] ?? 'application/octet-stream',
        })
    }
  }
  walk(dir)
  return { dir, files }
}

/** The content security policy of the dashboard: its own scripts and the API, nothing from elsewhere. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/**
 * Serves the dashboard at `/`: hashed files under `/assets/` cached for a
 * year (their names change with their content), every other file and
 * `index.html` revalidated on each load; any other GET path that is not the
 * API or `/metrics` answers `index.html`, so the page's own routes
 * (`/runs/run_…`) survive a reload. Mount it after the API routes.
 */
export function mountDashboard(app: Hono<ServerEnv>, assets: DashboardAssets): void {
  const index = assets.files.get('/index.html')
  if (index === undefined) return
  app.get('*', (c) => {
    const path = c.req.path
    if (path.startsWith('/api/') || path === '/api' || path === '/metrics') return c.notFound()
    const file = assets.files.get(path)
    if (file !== undefined && path !== '/index.html') {
      c.header('Content-Type', file.type)
      c.header(
        'Cache-Control',
        path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'public, max-age=0, must-revalidate',
      )
      c.header('X-Content-Type-Options', 'nosniff')
      return c.body(file.body as Uint8Array<ArrayBuffer>)
    }
    if (path.startsWith('/assets/')) return c.text('Not found', 404)
    c.header('Content-Type', index.type)
    c.header('Cache-Control', 'no-cache')
    c.header('Content-Security-Policy', CSP)
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    return c.body(index.body as Uint8Array<ArrayBuffer>)
  })
}
