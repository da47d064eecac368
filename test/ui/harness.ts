import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { ROOT, spawnCli, type BackgroundCli } from '../cli/run-cli.js'

/**
 * What the dashboard's browser test files share: Debian's chromium driven by
 * playwright-core, against a real `flotilla serve` child process on a SQLite
 * file, with screenshots kept in test-artifacts/.
 */
export const CHROMIUM = process.env.FLOTILLA_CHROMIUM ?? '/usr/bin/chromium'
/** Where the browser tests keep their screenshots. */
export const ARTIFACTS = join(ROOT, 'test-artifacts')
const KEY = /flt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}/
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Why the browser tests cannot run on this machine (warned with `what`), or undefined. */
export function browserMissing(what: string): string | undefined {
  const missing = !existsSync(CHROMIUM)
    ? `${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`
    : !existsSync(join(ROOT, 'dist/ui/index.html'))
      ? 'dist/ui is not built (npm run build)'
      : undefined
  if (missing !== undefined) console.warn(`${what} skipped: ${missing}`)
  return missing
}

/** A running `flotilla serve` with its URL and the admin key it printed. */
export interface Dashboard {
  server: BackgroundCli
  url: string
  admin: string
}

/**
 * Starts `flotilla serve --port 0 --store sqlite:<dir>/<db> --workflows
 * workflows --agents agents.mjs` (plus `extra`) in `dir` and waits until it
 * listens.
 */
export async function startDashboard(dir: string, db: string, extra: readonly string[] = []): Promise<Dashboard> {
  const args = ['serve', '--port', '0', '--store', `sqlite:${join(dir, db)}`, '--workflows', 'workflows']
  const server = spawnCli([...args, '--agents', 'agents.mjs', ...extra], {
    cwd: dir,
    env: { FLOTILLA_ADMIN_KEY: undefined },
  })
  await server.waitFor('Ctrl-C or SIGTERM stops it.', 30_000)
  const url = /listening on (http:\/\/\S+)/.exec(server.stdout())?.[1] ?? ''
  return { server, url, admin: KEY.exec(server.stdout())?.[0] ?? '' }
}

/** A headless chromium with its profile in `dir`. */
export function launchBrowser(dir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  })
}

/** Closes the browser, stops the server and removes the temporary folder. */
export async function stopDashboard(
  browser: BrowserContext | undefined,
  server: BackgroundCli | undefined,
  tmp: { cleanup: () => void },
): Promise<void> {
  await browser?.close()
  server?.child.kill('SIGTERM')
  if (server !== undefined) await server.exited
  tmp.cleanup()
}

/** A request to the API: its method (GET by default) and JSON body. */
export interface ApiInit {
  method?: string
  json?: unknown
}

/** Calls `/api/v1<path>` of the server at `url` with a key; an answer that is not 2xx throws with its body. */
export async function callApi<T>(url: string, path: string, key: string, init: ApiInit = {}): Promise<T> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  })
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}
