import { useCallback, useEffect, useState } from 'react'
import { ApiError, get, storedKey, storeKey } from './api'
import { forgetAllowed } from './hooks'
import { AlertBanner } from './pages/Alerts'
import { AgentsPage } from './pages/Agents'
import { AlertsPage } from './pages/Alerts'
import { ArtifactsPage } from './pages/Artifacts'
import { LoginPage } from './pages/Login'
import { RunsPage } from './pages/Runs'
import { SecurityPage } from './pages/Security'
import { RunPage } from './run/RunPage'
import { linkProps, usePath } from './router'
import { Session } from './session'
import type { Whoami } from './types'

const NAV = [
  { path: '/', label: 'Runs', match: (p: string) => p === '/' || p.startsWith('/runs') },
  { path: '/agents', label: 'Agents', match: (p: string) => p.startsWith('/agents') },
  { path: '/artifacts', label: 'Artifacts', match: (p: string) => p.startsWith('/artifacts') },
  { path: '/security', label: 'Security', match: (p: string) => p.startsWith('/security') },
  { path: '/alerts', label: 'Alerts', match: (p: string) => p.startsWith('/alerts') },
]

function Page({ path }: { path: string }) {
  const run = /^\/runs\/([^/]+)/.exec(path)
  if (run !== null) return <RunPage runId={decodeURIComponent(run[1] as string)} />
  if (path.startsWith('/agents')) return <AgentsPage />
  if (path.startsWith('/artifacts')) return <ArtifactsPage />
  if (path.startsWith('/security')) return <SecurityPage />
  if (path.startsWith('/alerts')) return <AlertsPage />
  return <RunsPage />
}

/** The dashboard: a sign-in with an API key, then the pages. */
export function App() {
  const path = usePath()
  const [who, setWho] = useState<Whoami | null>(null)
  const [checking, setChecking] = useState(storedKey() !== null)
  const [error, setError] = useState<string | null>(null)

  const signIn = useCallback(async (key: string) => {
    forgetAllowed()
    storeKey(key)
    setChecking(true)
    try {
      setWho(await get<Whoami>('/security/whoami'))
      setError(null)
    } catch (e) {
      storeKey(null)
      setWho(null)
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e))
    } finally {
      setChecking(false)
    }
  }, [])

  useEffect(() => {
    const key = storedKey()
    if (key !== null) void signIn(key)
    const out = (): void => {
      storeKey(null)
      setWho(null)
      setError('The key was refused (revoked or expired?). Sign in again.')
    }
    window.addEventListener('flotilla:unauthorized', out)
    return () => window.removeEventListener('flotilla:unauthorized', out)
  }, [signIn])

  if (who === null)
    return checking ? <p className="centered">Checking the key…</p> : <LoginPage onKey={signIn} error={error} />

  return (
    <Session.Provider value={who}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Flotilla</span>
        <nav aria-label="Pages">
          {NAV.map((n) => (
            <a key={n.path} {...linkProps(n.path)} aria-current={n.match(path) ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <span className="who" data-testid="who">
          {who.name} · <b>{who.role}</b>
        </span>
        <button
          type="button"
          onClick={() => {
            storeKey(null)
            forgetAllowed()
            setWho(null)
          }}
        >
          Sign out
        </button>
      </header>
      <AlertBanner />
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </Session.Provider>
  )
}
