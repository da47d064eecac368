// Writes docs/errors.md from the ERROR_CODES table.
// Run `npm run build` first: this script imports the compiled table from dist/.
//   npm run build && node scripts/write-errors-doc.mjs
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES } from '../dist/core/errors.js'

const target = fileURLToPath(new URL('../docs/errors.md', import.meta.url))

/** Escapes a table cell: pipes would split the column, newlines would end the row. */
function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}

const intro = `# Error codes

Every error Flotilla throws is a \`FlotillaError\` with a stable \`code\` from the
table below. Branch on \`code\`, never on the message: messages say what to do
and may be reworded, codes do not change.

- \`retryable\` says whether retrying the same operation can succeed. Retry
  policies read it (and \`code\`); a single error may override the table's flag.
- \`status\` is the HTTP status an HTTP API would map the code to.
- Recognise an error with \`isFlotillaError(err)\`, not \`instanceof\`: it checks
  a brand that works across duplicate copies of the package. An error that
  crossed a process boundary as JSON is rebuilt with \`deserializeError\`.
- In your own agent code, throw \`nonRetryable(err)\` to fail a task at once,
  whatever its retry policy: it becomes \`TASK_NON_RETRYABLE\`.

\`\`\`ts
import { Orchestrator, defineAgent, isFlotillaError, workflow } from 'flotilla'

const orchestrator = new Orchestrator({ store: 'memory' })
const greeter = defineAgent({ name: 'greeter', handler: async ({ name }: { name: string }) => ({ text: \`hello \${name}\` }) })
const wf = workflow('greet').task('greet', { agent: 'greeter', input: { name: 'world' } }).build()

const run = () => orchestrator.run(wf)
const registerAgents = () => orchestrator.register(greeter)

try {
  await run()
} catch (err) {
  if (isFlotillaError(err) && (err.code === 'AGENT_NOT_FOUND' || err.code === 'WORKFLOW_UNKNOWN_AGENT')) {
    console.log(\`\${err.code}: registering the agents, then running again\`)
    await registerAgents()
    await run()
  } else throw err
} finally {
  await orchestrator.close()
}
\`\`\`

This page is generated from \`src/core/errors.ts\` by
\`scripts/write-errors-doc.mjs\` (run \`npm run build\` first); a test checks that
it lists exactly the codes of the table, in order.
`

const rows = Object.entries(ERROR_CODES).map(
  ([code, { status, retryable, description }]) =>
    `| \`${code}\` | ${status} | ${retryable ? 'yes' : 'no'} | ${cell(description)} |`,
)

const table = ['| code | HTTP status | retryable | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n')

writeFileSync(target, `${intro}\n${table}\n`)
console.log(`Wrote ${rows.length} codes to ${target}`)
