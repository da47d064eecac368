/**
 * `flotilla agent run --http <port>`: the agent runner's HTTP mode, what a
 * pod of the `kubernetes` runtime runs. No spec is given: the orchestrator
 * sends the deploy request over HTTP, then the commands (see
 * `src/runtimes/kubernetes/agent-http-server.ts`). The token is read from
 * `FLOTILLA_AGENT_TOKEN`; SIGTERM (the pod being deleted) stops the agent.
 */
import { serveAgentHttp } from '../runtimes/kubernetes/agent-http-server.js'
import { usageError, type RawArgs } from './args.js'
import type { CliIO } from './execute-run.js'

/** Runs the HTTP mode until the agent stops; resolves with the exit code. */
export async function runAgentHttp(
  values: RawArgs['values'],
  positionals: readonly string[],
  io: CliIO,
): Promise<number> {
  const port = Number(values.http)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw usageError('agent run', `--http needs a port number (0–65535); got ${String(values.http)}.`)
  if (positionals.length > 0)
    throw usageError(
      'agent run',
      'With --http the orchestrator sends the agent to run: give no spec file (the kubernetes runtime starts it this way).',
    )
  for (const flag of ['input', 'input-file', 'workspace', 'json'])
    if (values[flag] !== undefined) throw usageError('agent run', `--${flag} does not apply with --http.`)
  const token = process.env.FLOTILLA_AGENT_TOKEN ?? ''
  if (token.length < 16)
    throw usageError(
      'agent run',
      'Set FLOTILLA_AGENT_TOKEN (at least 16 characters) for --http: the orchestrator sends it.',
    )
  const host = typeof values.host === 'string' ? values.host : (process.env.FLOTILLA_AGENT_HOST ?? '0.0.0.0')
  const idle = Number(process.env.FLOTILLA_AGENT_IDLE_EXIT_MS ?? '60000')
  const server = await serveAgentHttp({
    port,
    host,
    token,
    idleExitMs: Number.isFinite(idle) && idle > 0 ? idle : 60_000,
  })
  io.err.write(`agent runner listening on http://${host}:${server.port} (runtime protocol over HTTP)\n`)
  const stop = (): void => void server.close()
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  try {
    return await server.done
  } finally {
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
  }
}
