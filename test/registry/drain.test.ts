import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { AnyAgentDefinition } from '../../src/agents/define-agent.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import type { AgentInstance } from '../../src/registry/agent-instance.js'
import { pinPools, type AgentPool } from '../../src/registry/agent-pool.js'
import { watchAgents, type AgentReloadEvent, type AgentWatcher } from '../../src/registry/discovery/hot-reload.js'
import { resolveVersion } from '../../src/registry/discovery/versions.js'
import { Registry } from '../../src/registry/registry.js'
import { agentModule, tempDir, write } from './discovery/temp.js'
import { agent, codeOf } from './helpers.js'

function take(pool: AgentPool): AgentInstance {
  const got = pool.acquire()
  if (typeof got === 'string') throw new Error(`no instance in ${pool.key}: ${got}`)
  return got
}

/** One task of a run: acquire, run the handler, release. */
function runTask(pool: AgentPool): unknown {
  const inst = take(pool)
  const out = inst.definition.handler(undefined as never, undefined as never)
  pool.release(inst, 1, true)
  return out
}

/** What a run does when it starts (as the workflow engine resolves pools): pin the exact version, latest or in a range. */
function startRun(registry: Registry, name: string, range?: string): { pool: AgentPool; end: () => void } {
  const def = range === undefined ? registry.getDefinition(name)! : resolveVersion(registry, name, range)
  const pool = registry.pool({ agent: name, version: def.version })
  return { pool, end: pinPools([pool, pool]) }
}

const handlerOf = (result: string) => ({ handler: () => result })

describe('retiring a version with drain', () => {
  it('keeps it serving the runs that pinned it, hidden from everything else, and retires it when the last run ends', async () => {
    const registry = new Registry({ clock: new FakeClock() })
    const [v1] = await registry.register(
      agent('fixer', { version: '1.0.0', capabilities: ['fix'], ...handlerOf('v1') }),
    )
    const runA = startRun(registry, 'fixer')
    const runB = startRun(registry, 'fixer', '^1.0.0')
    expect(runTask(runA.pool)).toBe('v1')

    await registry.register(agent('fixer', { version: '1.1.0', capabilities: ['fix'], ...handlerOf('v1.1') }))
    registry.unregister('fixer', '1.0.0', { drain: true })

    // New work sees only 1.1.0.
    expect(registry.findByName('fixer').map((d) => d.version)).toEqual(['1.1.0'])
    expect(registry.getDefinition('fixer', '1.0.0')).toBeUndefined()
    expect(runTask(registry.pool({ agent: 'fixer' }))).toBe('v1.1')
    expect(registry.pool({ capability: 'fix' }).instances.map((i) => i.definition.version)).toEqual(['1.1.0'])
    expect(await codeOf(() => registry.pool({ agent: 'fixer', version: '1.0.0' }))).toBe('AGENT_NOT_FOUND')
    expect(Object.keys(registry.metrics())).toEqual(['fixer@1.1.0'])
    // The runs in flight keep 1.0.0 for their next tasks.
    expect(registry.draining()).toEqual([{ agent: 'fixer', version: '1.0.0', pins: 2, instances: 1 }])
    expect(runTask(runA.pool)).toBe('v1')
    expect(runTask(runB.pool)).toBe('v1')
    expect(v1.state).toBe('READY')
    expect(registry.getInstance(v1.id)).toBe(v1)

    runA.end()
    runA.end() // releasing twice does nothing
    expect(runTask(runB.pool)).toBe('v1')
    runB.end()
    expect(v1.state).toBe('STOPPED')
    expect(registry.getInstance(v1.id)).toBeUndefined()
    expect(registry.draining()).toEqual([])
    expect(runB.pool.acquire()).toBe('none')
  })

  it('retires at once when no run pinned the version', async () => {
    const registry = new Registry()
    const [v1] = await registry.register(agent('solo', { version: '1.0.0' }))
    const pool = registry.pool({ agent: 'solo', version: '1.0.0' })
    pool.pin()() // pinned and released before the retirement
    registry.unregister('solo', '1.0.0', { drain: true })
    expect(v1.state).toBe('STOPPED')
    expect(registry.draining()).toEqual([])
    expect(registry.has('solo')).toBe(false)
  })

  it('unregister without drain also stops a version still draining', async () => {
    const registry = new Registry()
    const [v1] = await registry.register(agent('svc', { version: '1.0.0' }))
    const run = startRun(registry, 'svc')
    registry.unregister('svc', '1.0.0', { drain: true })
    expect(v1.state).toBe('READY')
    registry.unregister('svc')
    expect(v1.state).toBe('STOPPED')
    expect(run.pool.acquire()).toBe('none')
    expect(await codeOf(() => registry.unregister('svc'))).toBe('AGENT_NOT_FOUND')
  })
})

describe('register with replace (same name@version)', () => {
  it('gives new runs the new code at once while a pinned run keeps the old code to its end', async () => {
    const registry = new Registry()
    const [old] = await registry.register(agent('echo', handlerOf('old')))
    const run = startRun(registry, 'echo')
    expect(runTask(run.pool)).toBe('old')

    let release = (): void => {}
    const started = new Promise<void>((resolve) => (release = resolve))
    const replacing = registry.register(agent('echo', { ...handlerOf('new'), initialize: () => started }), {
      replace: true,
    })
    // While the new definition initializes, the version is still served (no gap).
    expect(runTask(registry.pool({ agent: 'echo', version: '1.0.0' }))).toBe('old')
    release()
    const [fresh] = await replacing

    expect(runTask(startRun(registry, 'echo').pool)).toBe('new')
    expect(runTask(run.pool)).toBe('old') // never mixed inside the run
    expect(old.state).toBe('READY')
    run.end()
    expect(old.state).toBe('STOPPED')
    expect(fresh.state).toBe('READY')
    expect(await codeOf(() => registry.register(agent('echo')))).toBe('AGENT_DUPLICATE')
  })

  it('without pins, swaps the instances inside the same pool object', async () => {
    const registry = new Registry()
    const [old] = await registry.register(agent('echo', handlerOf('old')))
    const pool = registry.pool({ agent: 'echo', version: '1.0.0' })
    await registry.register(agent('echo', handlerOf('new')), { replace: true })
    expect(old.state).toBe('STOPPED')
    expect(registry.pool({ agent: 'echo', version: '1.0.0' })).toBe(pool)
    expect(runTask(pool)).toBe('new')
  })

  it('leaves the old definition in place when the new one fails to start', async () => {
    const registry = new Registry()
    const [old] = await registry.register(agent('echo', handlerOf('old')))
    const bad: AnyAgentDefinition = agent('echo', {
      initialize: () => {
        throw new Error('no key')
      },
    })
    expect(await codeOf(() => registry.register(bad, { replace: true }))).toBe('AGENT_INIT_FAILED')
    expect(old.state).toBe('READY')
    expect(runTask(registry.pool({ agent: 'echo' }))).toBe('old')
  })
})

describe('hot reload keeps runs in flight on the version they pinned', () => {
  let cleanup = (): void => {}
  let watcher: AgentWatcher | undefined
  afterEach(async () => {
    await watcher?.close()
    watcher = undefined
    cleanup()
  })

  async function reload(files: Record<string, string>) {
    const t = tempDir()
    cleanup = t.cleanup
    for (const [name, text] of Object.entries(files)) write(t.dir, name, text)
    const registry = new Registry()
    const events: AgentReloadEvent[] = []
    watcher = await watchAgents(registry, t.dir, { debounceMs: 20, onEvent: (e) => events.push(e) })
    const next = async (file: string, text: string): Promise<AgentReloadEvent> => {
      const from = events.length
      write(t.dir, file, text)
      const deadline = Date.now() + 5_000
      for (;;) {
        const hit = events.slice(from).find((e) => e.file === join(t.dir, file))
        if (hit) return hit
        if (Date.now() > deadline) throw new Error(`no reload of ${file}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    return { registry, next }
  }

  it('a version bump does not fail the next task of a run that started on the old version', async () => {
    const { registry, next } = await reload({ 'fixer.agent.mjs': agentModule('fixer', '1.0.0', 'v1') })
    const run = startRun(registry, 'fixer')
    expect(runTask(run.pool)).toBe('v1') // task 1

    expect(await next('fixer.agent.mjs', agentModule('fixer', '1.1.0', 'v1.1'))).toMatchObject({
      type: 'reloaded',
      agents: ['fixer@1.1.0'],
    })
    expect(registry.findByName('fixer').map((d) => d.version)).toEqual(['1.1.0'])
    expect(runTask(startRun(registry, 'fixer').pool)).toBe('v1.1') // a new run
    expect(runTask(run.pool)).toBe('v1') // task 2 of the old run: not AGENT_UNAVAILABLE
    run.end()
    expect(registry.draining()).toEqual([])
  })

  it('a same-version reload does not mix old and new code inside one run', async () => {
    const { registry, next } = await reload({ 'echo.agent.mjs': agentModule('echo', '1.0.0', 'old') })
    const run = startRun(registry, 'echo')
    expect(runTask(run.pool)).toBe('old')
    expect(await next('echo.agent.mjs', agentModule('echo', '1.0.0', 'new'))).toMatchObject({
      type: 'reloaded',
      agents: ['echo@1.0.0'],
    })
    expect(runTask(run.pool)).toBe('old')
    expect(runTask(startRun(registry, 'echo').pool)).toBe('new')
    run.end()
    expect(registry.draining()).toEqual([])
  })
})
