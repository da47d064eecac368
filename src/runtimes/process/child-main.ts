/**
 * The entry point of an agent process started by the `process` runtime
 * (`dist/runtimes/process/child-main.js`, forked with an IPC channel). A
 * {@link RunnerHost} serves the protocol over the channel; when the channel
 * closes (the parent exited or died) the process exits at once.
 *
 * @packageDocumentation
 */
import { RunnerHost } from './runner-host.js'

if (process.send === undefined) {
  // A program's entry point, run by mistake from a shell: it tells the person at the terminal.
  // eslint-disable-next-line no-restricted-syntax
  process.stderr.write(
    'child-main is the agent process of the flotilla process runtime; it must be started by it (with an IPC channel).\n',
  )
  process.exit(2)
}
const host = new RunnerHost({
  send: (message) => {
    if (process.connected) process.send?.(message)
  },
  exit: (code) => process.exit(code),
})
process.on('message', (raw: unknown) => host.receive(raw))
// The parent exited or died: never outlive it.
process.on('disconnect', () => process.exit(0))
