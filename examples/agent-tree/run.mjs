#!/usr/bin/env node
// Agents as processes: a coordinator deployed from its spec spawns three
// workers with narrower permissions, which process the files of inbox/ in
// parallel, each in a process of its own; one of them is refused a write it
// was not granted. Then a child asking for more than the coordinator holds
// is refused too, and the whole tree is terminated.
//
//   node examples/agent-tree/run.mjs [--json] [--workspace DIR]
//
// The workspace (the shared folder of the tree; inbox/ is copied into it)
// is a temporary folder removed at the end, unless --workspace names one:
// a new or empty folder, resolved against the current folder, kept
// afterwards so you can look at out/.
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Orchestrator } from 'flotilla'
import { SHARDS, SUMMARY, count } from './agents.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const USAGE = 'usage: node run.mjs [--json] [--workspace DIR]'
const args = process.argv.slice(2)
let json = false
let keep // the --workspace folder
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--json') json = true
  else if (args[i] === '--workspace' && args[i + 1] !== undefined && keep === undefined) keep = resolve(args[++i])
  else {
    console.error(USAGE)
    process.exit(2)
  }
}

const tmp = await mkdtemp(join(tmpdir(), 'flotilla-agent-tree-'))
const workspace = keep ?? join(tmp, 'workspace')
if (keep !== undefined && (await readdir(keep).catch(() => [])).length > 0) {
  console.error(`error: the workspace ${keep} is not empty; give a new or empty folder`)
  await rm(tmp, { recursive: true, force: true })
  process.exit(1)
}
await mkdir(workspace, { recursive: true })
await cp(join(HERE, 'inbox'), join(workspace, 'inbox'), { recursive: true })

// Agent records in memory; the workspaces of agents deployed without one
// would go under the temporary folder (this example gives its own).
const orchestrator = new Orchestrator({ store: 'memory', workspaceRoot: join(tmp, 'agents') })

// What agents report goes on the bus under its own type.
const denials = []
await orchestrator.bus.subscribe('permission.denied', undefined, (e) => denials.push({ from: e.from, ...e.data }))

let coordinator
let tree
let report
let failure
let escalation
let usage
try {
  coordinator = await orchestrator.agents.deploy(join(HERE, 'coordinator.agent.json'), { workspace })

  // The tree while the workers are alive: read when the last of the three
  // is recorded RUNNING. The handler runs inside that transition, and
  // tree() only reads the in-memory store, so it completes before the
  // orchestrator handles another message from an agent process: the
  // coordinator cannot have terminated its workers yet.
  let running = 0
  let treeWhileWorking
  const watch = await orchestrator.bus.subscribe('status_change', { where: { to: 'RUNNING' } }, () => {
    if (++running === SHARDS.length) treeWhileWorking = orchestrator.agents.tree(coordinator.id)
  })
  try {
    report = await orchestrator.agents.execute(coordinator.id, {}, { timeoutMs: 30_000 })
  } catch (err) {
    failure = err
  }
  await watch.unsubscribe()
  tree = await treeWhileWorking

  // A child asking for more than its parent holds is refused before anything starts.
  try {
    const greedy = await orchestrator.agents.deploy(
      {
        name: 'greedy',
        module: join(HERE, 'agents.mjs'),
        export: 'worker',
        permissions: [
          { resource: 'file:inbox/**', actions: ['read'] }, // held by the coordinator: fine
          { resource: 'file:**', actions: ['write'] }, // more than its write on file:out/**
        ],
      },
      { parentId: coordinator.id },
    )
    escalation = { deployed: greedy.id }
  } catch (err) {
    escalation = { code: err.code, message: err.message, excess: err.details?.excess }
  }

  // The workers are terminated already (by the coordinator): their usage is
  // only their command metrics; the coordinator still runs.
  const agentUsage = async (id) => {
    const u = await orchestrator.agents.usage(id)
    return {
      name: u.name,
      state: u.state,
      memoryBytes: u.memoryBytes,
      heapUsedBytes: u.heapUsedBytes,
      cpuMs: u.cpuMs,
      storageBytes: u.storageBytes,
      commands: u.metrics.calls,
      errors: u.metrics.errors,
    }
  }
  usage = {
    coordinator: await agentUsage(coordinator.id),
    workers: report === undefined ? [] : await Promise.all(report.perWorker.map((w) => agentUsage(w.id))),
    cluster: await orchestrator.agents.clusterUsage(),
  }

  await orchestrator.agents.terminate(coordinator.id) // the whole tree, children first
} catch (err) {
  failure ??= err
}
const agents = (await orchestrator.agents.list()).map((a) => ({
  id: a.id,
  name: a.name,
  parentId: a.parentId,
  state: a.state,
  reason: a.reason,
}))
await orchestrator.close()

const files = await listFiles(workspace)
const summary = files.includes(SUMMARY) ? await readFile(join(workspace, SUMMARY), 'utf8') : null
await rm(tmp, { recursive: true, force: true }) // with the workspace, unless --workspace put it elsewhere

const pids = tree === undefined ? [] : walk(tree).flatMap((a) => (a.pid === null ? [] : [a.pid]))
const ok =
  failure === undefined &&
  report !== undefined &&
  escalation?.code === 'PERMISSION_ESCALATION' &&
  agents.every((a) => a.state === 'TERMINATED')
const error = failure === undefined ? undefined : { code: failure.code ?? 'ERROR', message: failure.message }

if (json) {
  console.log(
    JSON.stringify(
      {
        ok,
        workspace,
        kept: keep !== undefined,
        tree: tree ?? null,
        report: report ?? null,
        denials,
        summary,
        escalation,
        usage: usage ?? null,
        agents,
        pids,
        files,
        error,
      },
      null,
      2,
    ),
  )
} else if (failure !== undefined) {
  console.error(`The coordinator failed: [${error.code}] ${error.message}`)
} else {
  console.log(plain().join('\n'))
}
process.exitCode = ok ? 0 : 1

/** The files of a folder, recursively, as sorted `/` paths relative to it. */
async function listFiles(root) {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((e) => e.isFile())
    .map((e) =>
      join(e.parentPath ?? e.path, e.name)
        .slice(root.length + 1)
        .split('\\')
        .join('/'),
    )
    .sort()
}

/** A tree node and its descendants, depth first. */
function walk(node) {
  return [node, ...node.children.flatMap(walk)]
}

/** The readable report. */
function plain() {
  const pad = (s, n) => String(s).padEnd(n)
  const kb = (bytes) => `${(bytes / 1024).toFixed(1)} kB`
  const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
  const limitsOf = (l) =>
    [
      l.memoryMb && `memory ${l.memoryMb} MB`,
      l.cpuMs && `cpu ${l.cpuMs} ms`,
      l.storageMb && `storage ${l.storageMb} MB`,
    ]
      .filter(Boolean)
      .join(', ')
  const grantsOf = (ps) => ps.map((p) => `${p.resource} ${p.actions.join('+')}`).join(' · ')
  const node = (a, indent) => [
    `${indent}${a.name} ${a.id} ${a.state} pid ${a.pid ?? '-'} · ${limitsOf(a.limits)}`,
    `${indent}    ${grantsOf(a.permissions)}`,
    ...a.children.flatMap((c) => node(c, `${indent}  `)),
  ]
  const width = Math.max(...report.perWorker.flatMap((w) => w.files.map((f) => f.file.length)))
  const lines = [
    `Workspace ${workspace}${keep === undefined ? ' (removed at the end)' : ''}: ${report.files.length} files in inbox/`,
    '',
    'Agent tree while the workers run:',
    ...(tree === undefined ? ['  (not captured)'] : node(tree, '  ')),
    '',
    'What each worker did (in parallel, each in its own process):',
    ...report.perWorker.flatMap((w) => [
      `  ${w.worker} (pid ${w.pid}) → ${w.outDir}/: ${count(w.files.length, 'file')}, ${count(w.words, 'word')}`,
      ...w.files.map(
        (f) => `    ${pad(f.file, width)} → ${pad(f.out, width)}  ${count(f.words, 'word')}, ${count(f.lines, 'line')}`,
      ),
    ]),
    '',
    `Refused writes, as the workers reported them: ${report.denied.length}`,
    ...report.denied.map((d) => `  ${d.worker}: write ${d.path} [${d.code}]`),
    `permission.denied events on the bus: ${denials.length}`,
    ...denials.map((d) => `  from ${d.from} (${d.agentId}): ${d.action} "${d.resource}": ${d.reason}`),
    '',
    `${SUMMARY}, written by the coordinator:`,
    ...(summary ?? '(missing)\n')
      .replace(/\n$/, '')
      .split('\n')
      .map((l) => `  ${l}`),
    '',
    'A child asking for more than the coordinator holds:',
    escalation.code === undefined
      ? `  deployed (unexpected): ${escalation.deployed}`
      : `  [${escalation.code}] ${escalation.message}`,
    '',
    'Usage:',
    `  coordinator: ${mb(usage.coordinator.memoryBytes)} resident, ${mb(usage.coordinator.heapUsedBytes)} heap, ${usage.coordinator.cpuMs} ms CPU, ${kb(usage.coordinator.storageBytes)} counted in the workspace, ${count(usage.coordinator.commands, 'command')}`,
    ...usage.workers.map(
      (w) => `  ${w.name}: ${count(w.commands, 'command')}, ${count(w.errors, 'error')} (${w.state})`,
    ),
    `  cluster: ${count(usage.cluster.agents, 'live agent')} (${Object.entries(usage.cluster.byState)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ')}), ${count(usage.cluster.commands, 'command')}, ${count(usage.cluster.errors, 'error')}`,
    '',
    'After terminating the coordinator:',
    ...agents.map((a) => `  ${pad(a.name, 12)} ${pad(a.state, 11)} ${a.reason ?? ''}`),
  ]
  return lines
}
