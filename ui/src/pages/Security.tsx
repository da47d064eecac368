import { useState } from 'react'
import { clock, post } from '../api'
import { useApi } from '../hooks'

interface Key {
  id: string
  name: string
  role: string
  createdAt: number
  expiresAt: number | null
  revokedAt: number | null
  lastUsedAt: number | null
}
interface Entry {
  seq: number
  at: number
  actor: string
  action: string
  resource: string
  outcome: string
}
interface Verification {
  ok: boolean
  checked: number
  head: string
  problem?: { seq?: number; reason?: string }
}
interface Block {
  target: string
  reason: string
  until: number
}

/** API keys, the audit log with the result of its verification, and blocks. */
export function SecurityPage() {
  const keys = useApi<{ keys: Key[] }>('/security/keys')
  const audit = useApi<{ entries: Entry[] }>('/security/audit?limit=200', 10_000)
  const blocks = useApi<{ blocks: Block[] }>('/security/blocks')
  const [verify, setVerify] = useState<Verification | string>()
  return (
    <section>
      <h1>Security</h1>
      <h2>Keys</h2>
      {keys.error !== undefined ? (
        <p className="error">{keys.error.message}</p>
      ) : (
        <table className="grid" data-testid="keys">
          <thead>
            <tr>
              <th>Id</th>
              <th>Name</th>
              <th>Role</th>
              <th>Created</th>
              <th>Last used</th>
              <th>Status</th>
            </tr>
          </thead>
          <tbody>
            {(keys.data?.keys ?? []).map((k) => (
              <tr key={k.id}>
                <td>{k.id}</td>
                <td>{k.name}</td>
                <td>{k.role}</td>
                <td>{clock(k.createdAt)}</td>
                <td>{clock(k.lastUsedAt)}</td>
                <td>
                  {k.revokedAt !== null
                    ? 'revoked'
                    : k.expiresAt !== null && k.expiresAt < Date.now()
                      ? 'expired'
                      : 'active'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Audit log</h2>
      <p>
        <button
          type="button"
          onClick={() =>
            post<Verification>('/security/audit/verify').then(setVerify, (e: unknown) => setVerify(String(e)))
          }
        >
          Verify the hash chain
        </button>{' '}
        <span data-testid="verify" role="status">
          {verify === undefined
            ? ''
            : typeof verify === 'string'
              ? verify
              : verify.ok
                ? `✓ intact: ${verify.checked} entries checked`
                : `✗ broken at entry ${verify.problem?.seq ?? '?'}: ${verify.problem?.reason ?? ''}`}
        </span>
      </p>
      {audit.error !== undefined ? (
        <p className="error">{audit.error.message}</p>
      ) : (
        <table className="grid" data-testid="audit">
          <thead>
            <tr>
              <th>#</th>
              <th>At</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Resource</th>
              <th>Outcome</th>
            </tr>
          </thead>
          <tbody>
            {[...(audit.data?.entries ?? [])].reverse().map((e) => (
              <tr key={e.seq} className={e.outcome}>
                <td>{e.seq}</td>
                <td>{clock(e.at)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.resource}</td>
                <td>{e.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Blocks</h2>
      {blocks.error !== undefined ? (
        <p className="error">{blocks.error.message}</p>
      ) : (blocks.data?.blocks ?? []).length === 0 ? (
        <p className="hint">No key or address is blocked.</p>
      ) : (
        <ul>
          {(blocks.data?.blocks ?? []).map((b) => (
            <li key={b.target}>
              {b.target}: {b.reason} (until {clock(b.until)})
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}
