import { useState } from 'react'

/** Sign in with an API key (`flt_<id>_<secret>`), kept in this tab's session storage only. */
export function LoginPage({ onKey, error }: { onKey: (key: string) => void; error: string | null }) {
  const [key, setKey] = useState('')
  return (
    <main className="login">
      <h1>Flotilla</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault()
          if (key.trim() !== '') onKey(key.trim())
        }}
      >
        <label htmlFor="key">API key</label>
        <input
          id="key"
          name="key"
          type="password"
          autoComplete="off"
          placeholder="flt_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          autoFocus
        />
        <button type="submit">Sign in</button>
        {error !== null && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <p className="hint">
          <code>flotilla serve</code> prints an ADMIN key on its first start; <code>flotilla keys create</code> makes
          others. The key stays in this tab (session storage) and is sent only to this server.
        </p>
      </form>
    </main>
  )
}
