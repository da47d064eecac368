import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FlotillaError, isFlotillaError } from '../../src/core/errors.js'
import { newAgentId } from '../../src/core/ids.js'
import type { Permission } from '../../src/security/permissions.js'
import type { DeployRequest, RuntimeEvent, RuntimeExit, RuntimeHandle, Runtime } from '../../src/runtimes/runtime.js'
import { ROOT } from '../cli/run-cli.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'

/** The fixture agent module of the suite. */
export const SINK = resolve(ROOT, 'test/fixtures/agents/kitchen-sink.mjs')

/** How a Runtime adapter is made for the contract suite. */
export interface RuntimeContractInit {
  /** Adapter name shown in the suite title. */
  name: string
  /** Makes a fresh runtime. */
  create(): Runtime
  /** Agent processes of this test process still running (0 for adapters without processes). */
  liveProcesses(): number
}

/** What the hooks given at deploy saw. */
export interface Recorder {
  events: RuntimeEvent[]
  exits: RuntimeExit[]
  calls: { op: string; args: unknown }[]
  /** Resolves with the first exit. */
  exited: Promise<RuntimeExit>
  /** Resolves with the first event matching `test`. */
  event(test: (e: RuntimeEvent) => boolean): Promise<RuntimeEvent>
}

/** Hooks that record everything and answer service calls like a small supervisor would. */
export function recordingHooks(): { hooks: Parameters<Runtime['deploy']>[1]; rec: Recorder } {
  let onExit!: (e: RuntimeExit) => void
  const waiters: { test: (e: RuntimeEvent) => boolean; resolve: (e: RuntimeEvent) => void }[] = []
  const rec: Recorder = {
    events: [],
    exits: [],
    calls: [],
    exited: new Promise((r) => (onExit = r)),
    event(test) {
      const found = rec.events.find(test)
      if (found) return Promise.resolve(found)
      return new Promise((r) => waiters.push({ test, resolve: r }))
    },
  }
  return {
    rec,
    hooks: {
      onExit(exit) {
        rec.exits.push(exit)
        onExit(exit)
      },
      onEvent(event) {
        rec.events.push(event)
        for (const w of [...waiters]) {
          if (w.test(event)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(event)
          }
        }
      },
      async call(op, args) {
        rec.calls.push({ op, args })
        if (op === 'send') return 'msg_1'
        if (op === 'cache.share') return undefined
        if (op === 'artifacts.put') {
          const { content } = args as { content: Uint8Array }
          if (!(content instanceof Uint8Array)) throw new FlotillaError('VALIDATION_FAILED', 'expected bytes')
          return { id: 'a', version: 1, content, encoding: 'bytes' }
        }
        throw new FlotillaError('ARTIFACT_EXPIRED', `no ${op} here`, { details: { op } })
      },
    },
  }
}

/** The code of a rejection (or "resolved"). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return isFlotillaError(err) ? err.code : `not a FlotillaError: ${String(err)}`
  }
  return 'resolved'
}

/** The rejection of `p` (fails the test if it resolves). */
export async function errorOf(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p
  } catch (err) {
    if (isFlotillaError(err)) return err
    throw new Error(`expected a FlotillaError, got ${String(err)}`)
  }
  throw new Error('expected a rejection, but it resolved')
}

const ALL: Permission[] = [
  { resource: 'file:**', actions: ['*'] },
  { resource: 'file:.', actions: ['list'] },
  { resource: 'tool:upper', actions: ['call'] },
  { resource: 'tool:peek', actions: ['call'] },
]

/** A temporary folder for the workspaces of one test. */
export function tempRoot(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-rt-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The shared behaviour every Runtime adapter must show. */
export function runtimeContract(init: RuntimeContractInit): void {
  describe(`Runtime contract: ${init.name}`, () => {
    let runtime: Runtime
    let root: { dir: string; cleanup(): void }

    beforeAll(() => ensureFreshBuild(), 120_000)
    beforeEach(() => {
      runtime = init.create()
      root = tempRoot()
    })
    afterEach(async () => {
      await runtime.close()
      root.cleanup()
    })

    function request(over: Partial<DeployRequest> = {}): DeployRequest {
      const instanceId = newAgentId()
      return {
        instanceId,
        name: 'sink',
        module: SINK,
        exportName: 'default',
        tools: ['upper', 'peek'],
        permissions: ALL,
        limits: {},
        env: {},
        workspace: join(root.dir, instanceId),
        ...over,
      }
    }

    async function deploy(over: Partial<DeployRequest> = {}): Promise<{ handle: RuntimeHandle; rec: Recorder }> {
      const { hooks, rec } = recordingHooks()
      return { handle: await runtime.deploy(request(over), hooks), rec }
    }

    it('deploys, executes and returns the output with the context it was given', async () => {
      const { handle } = await deploy()
      const out = (await handle.execute(
        { op: 'echo', value: [1, 'a'] },
        { runId: 'run_x', taskId: 'scan', attempt: 2 },
      )) as Record<string, unknown>
      expect(out).toEqual({
        ok: true,
        value: [1, 'a'],
        runId: 'run_x',
        taskId: 'scan',
        attempt: 2,
        instanceId: handle.instanceId,
        idempotencyKey: 'run_x:scan',
      })
      const synthetic = (await handle.execute({ op: 'echo' })) as Record<string, unknown>
      expect(synthetic.attempt).toBe(1)
      expect(typeof synthetic.runId).toBe('string')
      expect(synthetic.idempotencyKey).toBe(`${String(synthetic.runId)}:${String(synthetic.taskId)}`)
    })

    it('keeps the codes of input and output schema failures, and stays usable', async () => {
      const { handle } = await deploy()
      expect(await codeOf(handle.execute({ nope: 1 }))).toBe('AGENT_INPUT_INVALID')
      expect(await codeOf(handle.execute({ op: 'bad-output' }))).toBe('AGENT_OUTPUT_INVALID')
      expect(await handle.execute({ op: 'echo', value: 1 })).toMatchObject({ value: 1 })
    })

    it('rejects with the handler’s FlotillaError (code and details kept); a plain Error is TASK_FAILED; the instance stays usable', async () => {
      const { handle, rec } = await deploy()
      const e = await errorOf(handle.execute({ op: 'throw', code: 'ARTIFACT_CONFLICT', message: 'stale version' }))
      expect(e.code).toBe('ARTIFACT_CONFLICT')
      expect(e.message).toBe('stale version')
      expect(e.details).toMatchObject({ from: 'fixture' })
      const plain = await errorOf(handle.execute({ op: 'throw', message: 'boom' }))
      expect(plain.code).toBe('TASK_FAILED')
      expect(plain.message).toContain('boom')
      expect(await handle.execute({ op: 'echo', value: 2 })).toMatchObject({ value: 2 })
      expect(rec.exits).toEqual([])
    })

    it('times out with TASK_TIMEOUT and aborts ctx.signal', async () => {
      const { handle, rec } = await deploy()
      expect(await codeOf(handle.execute({ op: 'sleep', ms: 10_000 }, { timeoutMs: 50 }))).toBe('TASK_TIMEOUT')
      const seen = await rec.event((e) => e.type === 'log' && e.data.message === 'aborted')
      expect(seen.data.data).toEqual({ code: 'TASK_TIMEOUT' })
      expect(await handle.execute({ op: 'echo', value: 3 })).toMatchObject({ value: 3 })
    })

    it('aborts through the caller’s signal: the reason when a FlotillaError, else TASK_CANCELLED', async () => {
      const { handle, rec } = await deploy()
      const controller = new AbortController()
      const running = codeOf(handle.execute({ op: 'sleep', ms: 10_000 }, { signal: controller.signal }))
      setTimeout(() => controller.abort(new FlotillaError('TASK_CANCELLED', 'run cancelled')), 20)
      expect(await running).toBe('TASK_CANCELLED')
      await rec.event((e) => e.type === 'log' && e.data.message === 'aborted')
      const plain = new AbortController()
      plain.abort()
      expect(await codeOf(handle.execute({ op: 'echo' }, { signal: plain.signal }))).toBe('TASK_CANCELLED')
    })

    it('reports log lines and progress as events', async () => {
      const { handle, rec } = await deploy()
      await handle.execute({ op: 'log' }, { runId: 'run_l', taskId: 't' })
      expect(rec.events.find((e) => e.type === 'log')?.data).toMatchObject({
        level: 'info',
        message: 'hello',
        data: { n: 1 },
        runId: 'run_l',
        taskId: 't',
      })
      expect(rec.events.find((e) => e.type === 'progress')?.data).toMatchObject({
        fraction: 0.5,
        note: 'half',
        runId: 'run_l',
      })
    })

    it('reads, writes, lists and removes workspace files, each checked against file: permissions', async () => {
      const permissions: Permission[] = [
        { resource: 'file:data/**', actions: ['read', 'write', 'delete'] },
        { resource: 'file:data', actions: ['list'] },
      ]
      const { handle, rec } = await deploy({ permissions })
      await handle.execute({ op: 'write', path: 'data/a.txt', text: 'alpha' })
      await handle.execute({ op: 'write', path: 'data/sub/b.txt', text: 'beta' })
      expect(await handle.execute({ op: 'read', path: 'data/./sub/../a.txt' })).toMatchObject({ text: 'alpha' })
      expect(await handle.execute({ op: 'list', path: 'data' })).toMatchObject({
        files: ['data/a.txt', 'data/sub/b.txt'],
      })
      await handle.execute({ op: 'remove', path: 'data/a.txt' })
      expect(await handle.execute({ op: 'list', path: 'data' })).toMatchObject({ files: ['data/sub/b.txt'] })
      expect(await codeOf(handle.execute({ op: 'read', path: 'data/a.txt' }))).toBe('FILE_NOT_FOUND')

      expect(await codeOf(handle.execute({ op: 'write', path: 'secret.txt', text: 'x' }))).toBe('PERMISSION_DENIED')
      expect(await codeOf(handle.execute({ op: 'list', path: '.' }))).toBe('PERMISSION_DENIED')
      expect(await codeOf(handle.execute({ op: 'read', path: 'data/../../outside.txt' }))).toBe('PERMISSION_DENIED')
      const denied = rec.events
        .filter((e) => e.type === 'permission.denied')
        .map((e) => [e.data.resource, e.data.action])
      expect(denied).toEqual([
        ['file:secret.txt', 'write'],
        ['file:.', 'list'],
        ['file:data/../../outside.txt', 'read'],
      ])
    })

    it('stops the agent with RESOURCE_LIMIT_EXCEEDED when a write would go over storageMb', async () => {
      const { handle, rec } = await deploy({ limits: { storageMb: 0.01 } }) // 10,485 bytes
      writeFileSync(join(root.dir, 'ignored.txt'), 'x') // outside the workspace: not counted
      await handle.execute({ op: 'write', path: 'a.txt', text: 'x'.repeat(8000) })
      expect((await handle.usage()).storageBytes).toBeGreaterThanOrEqual(0)
      const e = await errorOf(handle.execute({ op: 'write', path: 'b.txt', text: 'y'.repeat(4000) }))
      expect(e.code).toBe('RESOURCE_LIMIT_EXCEEDED')
      const exit = await rec.exited
      expect(exit.code).toBe('RESOURCE_LIMIT_EXCEEDED')
      expect(exit.details).toMatchObject({ limit: 'storage', limitBytes: 10485 })
      expect(await codeOf(handle.execute({ op: 'echo' }))).toBe('AGENT_CRASHED')
      expect(rec.exits).toHaveLength(1)
    })

    it('stops the agent with RESOURCE_LIMIT_EXCEEDED when it goes over cpuMs', async () => {
      const { handle, rec } = await deploy({ limits: { cpuMs: 300 } })
      const running = codeOf(handle.execute({ op: 'spin', chunkMs: 5 }))
      const exit = await rec.exited
      expect(exit.code).toBe('RESOURCE_LIMIT_EXCEEDED')
      expect(exit.details).toMatchObject({ limit: 'cpu', cpuLimitMs: 300 })
      expect(await running).toBe('RESOURCE_LIMIT_EXCEEDED')
    })

    it('applies a lower cpuMs live: an instance already over it is stopped', async () => {
      const { handle, rec } = await deploy()
      const controller = new AbortController()
      const spin = codeOf(handle.execute({ op: 'spin', chunkMs: 5 }, { signal: controller.signal }))
      await new Promise((r) => setTimeout(r, 250))
      controller.abort()
      expect(await spin).toBe('TASK_CANCELLED')
      expect(rec.exits).toEqual([])
      await handle.scale({ cpuMs: 50 })
      const exit = await rec.exited
      expect(exit).toMatchObject({ code: 'RESOURCE_LIMIT_EXCEEDED', details: { limit: 'cpu', cpuLimitMs: 50 } })
    })

    it('checks tools: not among its tools, no permission, bad input, and a good call with its event', async () => {
      const { handle, rec } = await deploy({
        tools: ['upper', 'peek'],
        permissions: [{ resource: 'tool:upper', actions: ['call'] }],
      })
      expect(await codeOf(handle.execute({ op: 'tool', name: 'nope', input: {} }))).toBe('TOOL_NOT_FOUND')
      expect(await codeOf(handle.execute({ op: 'tool', name: 'peek', input: { path: 'a' } }))).toBe('PERMISSION_DENIED')
      expect(rec.events.find((e) => e.type === 'permission.denied')?.data).toMatchObject({
        resource: 'tool:peek',
        action: 'call',
      })
      expect(await codeOf(handle.execute({ op: 'tool', name: 'upper', input: { text: 1 } }))).toBe('VALIDATION_FAILED')
      expect(await handle.execute({ op: 'tool', name: 'upper', input: { text: 'abc' } })).toMatchObject({
        value: 'ABC',
      })
      const called = rec.events.find((e) => e.type === 'tool.called')
      expect(called?.data).toMatchObject({ tool: 'upper', ok: true })
      expect(typeof called?.data.durationMs).toBe('number')
    })

    it('checks a tool’s workspace access against the calling agent’s permissions', async () => {
      const { handle } = await deploy({
        permissions: [
          { resource: 'tool:peek', actions: ['call'] },
          { resource: 'file:**', actions: ['write'] },
        ],
      })
      await handle.execute({ op: 'write', path: 'a.txt', text: 'x' })
      expect(await codeOf(handle.execute({ op: 'tool', name: 'peek', input: { path: 'a.txt' } }))).toBe(
        'PERMISSION_DENIED',
      )
    })

    it('sends ctx services through hooks.call and returns the result; a rejected call arrives as the FlotillaError', async () => {
      const { handle, rec } = await deploy()
      expect(await handle.execute({ op: 'send', to: 'analyst', body: { finding: 1 } })).toMatchObject({ id: 'msg_1' })
      expect(rec.calls[0]).toEqual({ op: 'send', args: { to: 'analyst', body: { finding: 1 } } })
      const e = await errorOf(handle.execute({ op: 'cache-get', key: 'k' }))
      expect(e.code).toBe('ARTIFACT_EXPIRED')
      expect(e.details).toMatchObject({ op: 'cache.get' })
      expect(await handle.execute({ op: 'put-bytes', id: 'a', bytes: [1, 2, 255] })).toMatchObject({
        version: 1,
        content: [1, 2, 255],
      })
    })

    it('carries undefined inputs, outputs and service results', async () => {
      const { handle, rec } = await deploy({ exportName: 'returnsNothing', tools: [] })
      expect(await handle.execute(undefined)).toBeUndefined()
      expect(await handle.execute('call')).toBeUndefined()
      expect(rec.calls).toEqual([{ op: 'cache.share', args: { key: 'k', ttlMs: 1 } }])
      expect(rec.exits).toEqual([])
    })

    it('carries bytes in inputs and outputs', async () => {
      const { handle } = await deploy()
      const out = (await handle.execute({ op: 'bytes', bytes: [0, 7, 255], data: new Uint8Array([9, 8]) })) as {
        bytes: Uint8Array
        echoed: number[]
      }
      expect(out.bytes).toBeInstanceOf(Uint8Array)
      expect(Array.from(out.bytes)).toEqual([0, 7, 255])
      expect(out.echoed).toEqual([9, 8])
    })

    it.each([
      ['a missing module', { module: join(ROOT, 'test/fixtures/agents/missing.mjs') }, 'missing.mjs'],
      ['a missing export', { exportName: 'nope' }, 'no export "nope"'],
      ['an export that is not an agent', { exportName: 'notAnAgent' }, 'not an agent'],
      ['an initialize hook that throws', { exportName: 'failsToStart', tools: [] }, 'the database is not reachable'],
      ['a tool the module does not export', { tools: ['upper', 'ghost'] }, '"ghost"'],
    ] as const)(
      'fails to deploy with AGENT_DEPLOY_FAILED for %s, leaving nothing running',
      async (_what, over, text) => {
        const { hooks, rec } = recordingHooks()
        const e = await errorOf(runtime.deploy(request(over), hooks))
        expect(e.code).toBe('AGENT_DEPLOY_FAILED')
        expect(e.message).toContain(text)
        expect(init.liveProcesses()).toBe(0)
        expect(rec.exits).toEqual([])
      },
    )

    it('terminates idempotently, without reporting an exit; later commands are refused', async () => {
      const { handle, rec } = await deploy()
      const running = codeOf(handle.execute({ op: 'sleep', ms: 10_000 }))
      await Promise.all([handle.terminate(), handle.terminate('again')])
      await handle.terminate()
      expect(await running).toBe('AGENT_TERMINATED')
      expect(await codeOf(handle.execute({ op: 'echo' }))).toBe('AGENT_TERMINATED')
      expect(rec.exits).toEqual([])
      expect(init.liveProcesses()).toBe(0)
    })

    it('holds commands while paused and runs them after resume', async () => {
      const { handle } = await deploy()
      await handle.pause()
      await handle.pause()
      let settled = false
      const held = handle.execute({ op: 'echo', value: 'later' }).finally(() => (settled = true))
      await new Promise((r) => setTimeout(r, 150))
      expect(settled).toBe(false)
      await handle.resume()
      expect(await held).toMatchObject({ value: 'later' })
      await handle.resume()
    })

    it('applies a new storage limit live and reports usage', async () => {
      const { handle, rec } = await deploy()
      await handle.execute({ op: 'write', path: 'a.txt', text: 'x'.repeat(5000) })
      const u = await handle.usage()
      expect(u.cpuMs).toBeGreaterThanOrEqual(0)
      expect(u.at).toBeGreaterThan(0)
      await handle.scale({ storageMb: 0.005 }) // 5,242 bytes
      expect(await codeOf(handle.execute({ op: 'write', path: 'b.txt', text: 'y'.repeat(1000) }))).toBe(
        'RESOURCE_LIMIT_EXCEEDED',
      )
      expect((await rec.exited).details).toMatchObject({ limit: 'storage' })
    })

    it('terminates every instance on close', async () => {
      const a = await deploy()
      const b = await deploy()
      await runtime.close()
      expect(await codeOf(a.handle.execute({ op: 'echo' }))).toBe('AGENT_TERMINATED')
      expect(await codeOf(b.handle.execute({ op: 'echo' }))).toBe('AGENT_TERMINATED')
      expect(init.liveProcesses()).toBe(0)
    })
  })
}
