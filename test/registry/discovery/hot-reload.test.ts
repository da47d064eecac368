import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Registry } from '../../../src/registry/registry.js'
import type { AgentInstance } from '../../../src/registry/agent-instance.js'
import { watchAgents, type AgentReloadEvent, type AgentWatcher } from '../../../src/registry/discovery/hot-reload.js'
import { codeOf } from '../helpers.js'
import { agentModule, tempDir, write } from './temp.js'

/** Collects events; `next` waits for the first one from now on that matches. */
function recorder() {
  const events: AgentReloadEvent[] = []
  let wake: () => void = () => {}
  return {
    events,
    onEvent: (e: AgentReloadEvent) => {
      events.push(e)
      wake()
    },
    /** Resolves with the first event after `from` matching `pred`; rejects after `timeoutMs`. */
    async next(from: number, pred: (e: AgentReloadEvent) => boolean, timeoutMs = 5000): Promise<AgentReloadEvent> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const hit = events.slice(from).find(pred)
        if (hit) return hit
        if (Date.now() > deadline)
          throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.slice(from))}`)
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 50)
        })
      }
    },
  }
}

function take(registry: Registry, name: string): AgentInstance {
  const got = registry.pool({ agent: name }).acquire()
  if (typeof got === 'string') throw new Error(`no instance of ${name}: ${got}`)
  return got
}

function call(instance: AgentInstance): unknown {
  return instance.definition.handler(undefined as never, undefined as never)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.each([
  { mode: 'one recursive watcher', recursive: true },
  { mode: 'a watcher per folder', recursive: false },
])('watchAgents with $mode', ({ recursive }) => {
  let cleanup = (): void => {}
  let watcher: AgentWatcher | undefined
  afterEach(async () => {
    await watcher?.close()
    watcher = undefined
    cleanup()
  })

  async function start(files: Record<string, string>) {
    const t = tempDir()
    cleanup = t.cleanup
    for (const [name, text] of Object.entries(files)) write(t.dir, name, text)
    const registry = new Registry()
    const rec = recorder()
    watcher = await watchAgents(registry, t.dir, { recursive, debounceMs: 30, onEvent: rec.onEvent })
    return { dir: t.dir, registry, rec }
  }

  it('reloads a changed module; executions in flight keep the instance they acquired', async () => {
    const { dir, registry, rec } = await start({ 'echo.agent.mjs': agentModule('echo', '1.0.0', 'old') })
    expect(watcher!.report.loaded).toEqual([{ file: join(dir, 'echo.agent.mjs'), agents: ['echo@1.0.0'] }])
    const inFlight = take(registry, 'echo')
    expect(call(inFlight)).toBe('old')

    const from = rec.events.length
    const file = write(dir, 'echo.agent.mjs', agentModule('echo', '1.0.0', 'new handler'))
    expect(await rec.next(from, (e) => e.file === file)).toEqual({ type: 'reloaded', file, agents: ['echo@1.0.0'] })

    const fresh = take(registry, 'echo')
    expect(fresh).not.toBe(inFlight)
    expect(call(fresh)).toBe('new handler')
    // The run in flight still holds the old instance and definition, and can finish and release it.
    expect(call(inFlight)).toBe('old')
    expect(inFlight.state).toBe('STOPPED')
    registry.pool({ agent: 'echo' }).release(inFlight, 1, true)
    expect(inFlight.active).toBe(0)
    expect(registry.findByName('echo')).toHaveLength(1)
  })

  it('keeps the old definition active when the new file is broken, and recovers once fixed', async () => {
    const { dir, registry, rec } = await start({ 'echo.agent.mjs': agentModule('echo', '1.0.0', 'old') })
    const file = join(dir, 'echo.agent.mjs')

    let from = rec.events.length
    write(dir, 'echo.agent.mjs', 'export const x = (\n')
    const failed = await rec.next(from, (e) => e.file === file)
    expect(failed).toMatchObject({ type: 'reload-failed', file, error: { code: 'MODULE_LOAD_FAILED' } })
    expect(failed.error!.message).toContain(file)
    expect(call(take(registry, 'echo'))).toBe('old')

    from = rec.events.length
    write(dir, 'echo.agent.mjs', "throw new Error('boom at load')\n")
    expect((await rec.next(from, (e) => e.file === file)).error!.message).toContain('boom at load')
    expect(call(take(registry, 'echo'))).toBe('old')

    from = rec.events.length
    write(dir, 'echo.agent.mjs', agentModule('echo', '1.0.0', 'fixed'))
    expect((await rec.next(from, (e) => e.file === file)).type).toBe('reloaded')
    expect(call(take(registry, 'echo'))).toBe('fixed')
  })

  it('keeps the old definition when the new one fails its initialize hook', async () => {
    const { dir, registry, rec } = await start({ 'echo.agent.mjs': agentModule('echo', '1.0.0', 'old') })
    const before = registry.getDefinition('echo', '1.0.0')
    const from = rec.events.length
    const file = write(
      dir,
      'echo.agent.mjs',
      agentModule('echo', '1.0.0', 'never', ", initialize: () => { throw new Error('no API key') }"),
    )
    expect(await rec.next(from, (e) => e.file === file)).toMatchObject({
      type: 'reload-failed',
      error: { code: 'AGENT_INIT_FAILED' },
    })
    expect(registry.getDefinition('echo', '1.0.0')).toBe(before)
    expect(call(take(registry, 'echo'))).toBe('old')
  })

  it('swaps versions: the new one registers, the version the file dropped leaves', async () => {
    const { dir, registry, rec } = await start({ 'echo.agent.mjs': agentModule('echo', '1.0.0', 'v1') })
    const v1 = take(registry, 'echo')
    const from = rec.events.length
    const file = write(dir, 'echo.agent.mjs', agentModule('echo', '1.1.0', 'v1.1'))
    expect(await rec.next(from, (e) => e.file === file)).toEqual({ type: 'reloaded', file, agents: ['echo@1.1.0'] })
    expect(registry.findByName('echo').map((d) => d.version)).toEqual(['1.1.0'])
    expect(call(take(registry, 'echo'))).toBe('v1.1')
    expect(call(v1)).toBe('v1')
  })

  it('loads new files, in new folders too, and unregisters the agents of a deleted file', async () => {
    const { dir, registry, rec } = await start({})
    expect(watcher!.report).toEqual({ loaded: [], failed: [] })

    let from = rec.events.length
    mkdirSync(join(dir, 'team/deep'), { recursive: true })
    await sleep(100) // let a per-folder watcher pick up the new folders
    const file = write(dir, 'team/deep/late.agent.mjs', agentModule('late', '1.0.0', 'late'))
    expect(await rec.next(from, (e) => e.file === file)).toEqual({ type: 'reloaded', file, agents: ['late@1.0.0'] })
    expect(call(take(registry, 'late'))).toBe('late')

    write(dir, 'team/notes.txt', 'ignored')
    from = rec.events.length
    rmSync(file)
    expect(await rec.next(from, (e) => e.file === file)).toEqual({ type: 'removed', file, agents: ['late@1.0.0'] })
    expect(registry.has('late')).toBe(false)
    expect(rec.events.some((e) => e.file.endsWith('notes.txt'))).toBe(false)
  })

  it('debounces a burst of writes into one reload, and stops after close()', async () => {
    const { dir, registry, rec } = await start({ 'echo.agent.mjs': agentModule('echo', '1.0.0', 'v0') })
    const from = rec.events.length
    let file = ''
    for (let i = 1; i <= 5; i++) file = write(dir, 'echo.agent.mjs', agentModule('echo', '1.0.0', `v${i}`))
    await rec.next(from, (e) => e.file === file)
    await sleep(200)
    expect(rec.events.slice(from).filter((e) => e.file === file)).toEqual([
      { type: 'reloaded', file, agents: ['echo@1.0.0'] },
    ])
    expect(call(take(registry, 'echo'))).toBe('v5')

    await watcher!.close()
    const after = rec.events.length
    write(dir, 'echo.agent.mjs', agentModule('echo', '1.0.0', 'after close'))
    await sleep(200)
    expect(rec.events.length).toBe(after)
    expect(call(take(registry, 'echo'))).toBe('v5')
  })
})

describe('watchAgents input', () => {
  it('refuses bad options and a missing folder', async () => {
    const t = tempDir()
    try {
      expect(await codeOf(() => watchAgents(new Registry(), join(t.dir, 'missing')))).toBe('FILE_NOT_FOUND')
      expect(await codeOf(() => watchAgents(new Registry(), t.dir, { debounceMs: -1 }))).toBe('VALIDATION_FAILED')
      expect(await codeOf(() => watchAgents(new Registry(), t.dir, { onEvent: 'log' as never }))).toBe(
        'VALIDATION_FAILED',
      )
      expect(await codeOf(() => watchAgents(new Registry(), t.dir, { pattern: '**x' }))).toBe('VALIDATION_FAILED')
    } finally {
      t.cleanup()
    }
  })

  it('reports a listener that throws without stopping', async () => {
    const t = tempDir()
    const registry = new Registry()
    const seen: string[] = []
    const watcher = await watchAgents(registry, t.dir, {
      debounceMs: 20,
      onEvent: (e) => {
        seen.push(e.type)
        throw new Error('listener bug')
      },
    })
    try {
      write(t.dir, 'a.agent.mjs', agentModule('a', '1.0.0', 'a'))
      for (let i = 0; i < 100 && !registry.has('a'); i++) await sleep(50)
      write(t.dir, 'b.agent.mjs', agentModule('b', '1.0.0', 'b'))
      for (let i = 0; i < 100 && !registry.has('b'); i++) await sleep(50)
      expect(registry.has('a') && registry.has('b')).toBe(true)
      expect(seen).toEqual(['reloaded', 'reloaded'])
    } finally {
      await watcher.close()
      t.cleanup()
    }
  })
})
