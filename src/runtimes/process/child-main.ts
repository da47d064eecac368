/**
 * The entry point of an agent process started by the `process` runtime
 * (`dist/runtimes/process/child-main.js`, forked with an IPC channel). A
 * {@link RunnerHost} serves the protocol over the channel; when the channel
 * closes (the parent exited or died) the process exits at once.
 *
 * @packageDocumentation
 */
import { otlpTracesEndpoint, otlpTracing, type OtlpTracing } from '../../telemetry/otlp.js'
import { RunnerHost, type RunnerHostIO } from './runner-host.js'

if (process.send === undefined) {
  // A program's entry point, run by mistake from a shell: it tells the person at the terminal.
  // eslint-disable-next-line no-restricted-syntax
  process.stderr.write(
    'child-main is the agent process of the flotilla process runtime; it must be started by it (with an IPC channel).\n',
  )
  process.exit(2)
}
// Spans go where the parent's go (the OTEL_* variables are inherited); nothing is loaded without them.
let otlp: OtlpTracing | undefined
/** Sends the buffered spans (a second at most), then exits. */
const exit = (code: number): void => {
  if (otlp === undefined) return process.exit(code)
  const timer = setTimeout(() => process.exit(code), 1000)
  void otlp.shutdown().finally(() => {
    clearTimeout(timer)
    process.exit(code)
  })
}
const io: RunnerHostIO = {
  send: (message) => {
    if (process.connected) process.send?.(message)
  },
  exit,
}
const host = new RunnerHost(io)
// Messages that arrive while the exporter loads wait for it, in order.
let waiting: unknown[] | undefined = otlpTracesEndpoint() === undefined ? undefined : []
process.on('message', (raw: unknown) => (waiting === undefined ? host.receive(raw) : waiting.push(raw)))
if (waiting !== undefined) {
  void otlpTracing('flotilla-agent')
    .catch(() => undefined)
    .then((loaded) => {
      otlp = loaded
      if (loaded !== undefined) io.tracer = loaded.tracer
      const queued = waiting ?? []
      waiting = undefined
      for (const raw of queued) host.receive(raw)
    })
}
// The parent exited or died: never outlive it.
process.on('disconnect', () => exit(0))
