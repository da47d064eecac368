import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { newAgentId } from '../../src/core/ids.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import type { DeployRequest, RuntimeHandle } from '../../src/runtimes/runtime.js'
import { ROOT } from '../cli/run-cli.js'
import {
  codeOf,
  errorOf,
  recordingHooks,
  runtimeContract,
  SINK,
  tempRoot,
  type Recorder,
} from '../contract/runtime.contract.js'
import { CHILD_ENTRY, ensureFreshBuild } from './fresh-build.js'

/** State letter of a process, or undefined when it is gone (a zombie counts as gone). */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
    return state === 'Z' ? undefined : state
  } catch {
    return undefined
  }
}

/** Agent processes (child-main.js) whose parent is this test process. */
function liveProcesses(): number {
  let n = 0
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) !== process.pid || fields[0] === 'Z') continue
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('child-main.js')) n++
    } catch {
      // gone meanwhile
    }
  }
  return n
}

async function until(test: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (test()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return test()
}

const quiet = { entry: CHILD_ENTRY, forwardStderr: false }

runtimeContract({ name: 'process', create: () => new ProcessRuntime(quiet), liveProcesses })

describe('ProcessRuntime (process-only behaviour)', () => {
  let runtime: ProcessRuntime
  let root: { dir: string; cleanup(): void }

  beforeAll(() => ensureFreshBuild(), 120_000)
  beforeEach(() => {
    runtime = new ProcessRuntime(quiet)
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
      tools: [],
      permissions: [],
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

  it('runs the agent in its own process, in its workspace, with the spec env and without NODE_OPTIONS', async () => {
    process.env.NODE_OPTIONS = '--max-old-space-size=4096'
    try {
      const { handle } = await deploy({ env: { FIXTURE_VAR: 'from-spec' } })
      const out = (await handle.execute({ op: 'pid' })) as {
        pid: number
        env: string
        nodeOptions: string | null
        cwd: string
      }
      expect(out.pid).toBe(handle.pid)
      expect(out.pid).not.toBe(process.pid)
      expect(out.env).toBe('from-spec')
      expect(out.nodeOptions).toBeNull()
      expect(out.cwd).toContain(handle.instanceId)
    } finally {
      delete process.env.NODE_OPTIONS
    }
  })

  it('refuses values JSON cannot carry: input with AGENT_INPUT_INVALID, output with AGENT_OUTPUT_INVALID', async () => {
    const { handle, rec } = await deploy()
    expect(await codeOf(handle.execute({ op: 'echo', value: 10n }))).toBe('AGENT_INPUT_INVALID')
    expect(await codeOf(handle.execute({ op: 'bigint' }))).toBe('AGENT_OUTPUT_INVALID')
    expect(await handle.execute({ op: 'echo', value: 1 })).toMatchObject({ value: 1 })
    expect(rec.exits).toEqual([])
  })

  it('reports a handler calling process.exit as AGENT_CRASHED with the exit code; the command in flight rejects', async () => {
    const { handle, rec } = await deploy()
    const e = await errorOf(handle.execute({ op: 'exit', code: 3 }))
    expect(e.code).toBe('AGENT_CRASHED')
    const exit = await rec.exited
    expect(exit.code).toBe('AGENT_CRASHED')
    expect(exit.reason).toContain('exited with code 3')
    expect(exit.details).toMatchObject({ exitCode: 3, signal: null })
    expect(await codeOf(handle.execute({ op: 'echo' }))).toBe('AGENT_CRASHED')
  })

  it('reports a SIGKILL from outside as AGENT_CRASHED naming the signal', async () => {
    const { handle, rec } = await deploy()
    const running = codeOf(handle.execute({ op: 'sleep', ms: 10_000 }))
    process.kill(handle.pid!, 'SIGKILL')
    const exit = await rec.exited
    expect(exit.code).toBe('AGENT_CRASHED')
    expect(exit.reason).toContain('SIGKILL')
    expect(exit.details).toMatchObject({ signal: 'SIGKILL' })
    expect(await running).toBe('AGENT_CRASHED')
  })

  it('stops an agent that exhausts its memoryMb with RESOURCE_LIMIT_EXCEEDED (limit memory)', async () => {
    const { handle, rec } = await deploy({ limits: { memoryMb: 64 } })
    const running = codeOf(handle.execute({ op: 'alloc' }))
    const exit = await rec.exited
    expect(exit.code).toBe('RESOURCE_LIMIT_EXCEEDED')
    expect(exit.details).toMatchObject({ limit: 'memory', memoryMb: 64 })
    expect(await running).toBe('RESOURCE_LIMIT_EXCEEDED')
  })

  it('kills a child whose resident set goes over the cap, even while its heap is fine', async () => {
    runtime = new ProcessRuntime({ ...quiet, rssFactor: 0, rssBaseMb: 20 }) // a 20 MB cap: below every Node process
    const { rec } = await deploy({ limits: { memoryMb: 256 } })
    const exit = await rec.exited
    expect(exit.code).toBe('RESOURCE_LIMIT_EXCEEDED')
    expect(exit.details).toMatchObject({ limit: 'memory', rssLimitBytes: 20 * 1024 * 1024 })
  })

  it('stops an agent sending a malformed message with IPC_PROTOCOL_ERROR; this process carries on', async () => {
    const { handle, rec } = await deploy()
    const running = codeOf(handle.execute({ op: 'garbage' }))
    const exit = await rec.exited
    expect(exit.code).toBe('IPC_PROTOCOL_ERROR')
    expect(exit.reason).toContain('garbage')
    expect(await running).toBe('IPC_PROTOCOL_ERROR')
    expect(await until(() => stateOf(handle.pid!) === undefined, 5_000)).toBe(true)
    const other = await deploy()
    expect(await other.handle.execute({ op: 'echo', value: 1 })).toMatchObject({ value: 1 })
  })

  it('stops the child with SIGSTOP on pause and SIGCONT on resume', async () => {
    const { handle } = await deploy()
    await handle.pause()
    expect(stateOf(handle.pid!)).toMatch(/^[Tt]$/)
    const usage = await handle.usage() // answers without the (stopped) child
    expect(usage.memoryBytes).toBeGreaterThan(0)
    await handle.resume()
    expect(stateOf(handle.pid!)).not.toMatch(/^[Tt]$/)
    expect(await handle.execute({ op: 'echo', value: 'on' })).toMatchObject({ value: 'on' })
  })

  it('terminates a paused child', async () => {
    const { handle } = await deploy()
    const pid = handle.pid!
    await handle.pause()
    await handle.terminate()
    expect(stateOf(pid)).toBeUndefined()
  })

  it('restarts the child (once idle) with the new heap size when memoryMb changes', async () => {
    const { handle, rec } = await deploy({ limits: { memoryMb: 128 } })
    const before = handle.pid
    const slow = handle.execute({ op: 'sleep', ms: 100 })
    await handle.scale({ memoryMb: 256, cpuMs: 60_000 })
    expect(await slow).toMatchObject({ ok: true }) // the restart waited for it
    expect(handle.pid).not.toBe(before)
    expect(stateOf(before!)).toBeUndefined()
    expect(await handle.execute({ op: 'echo', value: 'again' })).toMatchObject({ value: 'again' })
    const cmdline = readFileSync(`/proc/${handle.pid}/cmdline`, 'utf8')
    expect(cmdline).toContain('--max-old-space-size=256')
    expect(rec.exits).toEqual([])
  })

  it('measures CPU time and the resident set of the child', async () => {
    const { handle } = await deploy()
    const controller = new AbortController()
    const spin = codeOf(handle.execute({ op: 'spin', chunkMs: 5 }, { signal: controller.signal }))
    // Spin until the child has used 100 ms of CPU (a loaded machine gives it less than wall time), at most 15 s.
    let usage = await handle.usage()
    for (const end = Date.now() + 15_000; usage.cpuMs <= 100 && Date.now() < end; usage = await handle.usage())
      await new Promise((r) => setTimeout(r, 100))
    controller.abort()
    await spin
    expect(usage.cpuMs).toBeGreaterThan(100)
    usage = await handle.usage()
    expect(usage.memoryBytes).toBeGreaterThan(10 * 1024 * 1024)
  })

  it('fails to deploy with AGENT_DEPLOY_FAILED when the process exits before it is ready, leaving nothing', async () => {
    const e = await errorOf(
      runtime.deploy(
        request({ module: join(ROOT, 'test/fixtures/agents/exits-on-import.mjs') }),
        recordingHooks().hooks,
      ),
    )
    expect(e.code).toBe('AGENT_DEPLOY_FAILED')
    expect(e.message).toContain('exited with code 5')
    expect(liveProcesses()).toBe(0)
  })

  it('fails to deploy with AGENT_DEPLOY_FAILED when initialize does not finish within readyTimeoutMs, leaving nothing', async () => {
    runtime = new ProcessRuntime({ ...quiet, readyTimeoutMs: 500 })
    const e = await errorOf(runtime.deploy(request({ exportName: 'neverReady' }), recordingHooks().hooks))
    expect(e.code).toBe('AGENT_DEPLOY_FAILED')
    expect(e.message).toContain('not ready within 500 ms')
    expect(liveProcesses()).toBe(0)
  })

  it('kills a child that ignores the shutdown message (stuck in a loop) after the grace period', async () => {
    runtime = new ProcessRuntime({ ...quiet, terminateGraceMs: 200 })
    const { handle, rec } = await deploy()
    const pid = handle.pid!
    const stuck = codeOf(handle.execute({ op: 'hang' }))
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    await handle.terminate()
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(stateOf(pid)).toBeUndefined()
    expect(await stuck).toBe('AGENT_TERMINATED')
    expect(rec.exits).toEqual([])
  })

  it('fails to deploy when the child entry is missing, naming it', async () => {
    const e = await errorOf(
      new ProcessRuntime({ entry: join(ROOT, 'nowhere/child-main.js') }).deploy(request(), recordingHooks().hooks),
    )
    expect(e.code).toBe('AGENT_DEPLOY_FAILED')
    expect(e.message).toContain('nowhere/child-main.js')
  })

  it('does not leave the agent process running when its parent process dies', async () => {
    const script = join(ROOT, 'test/fixtures/agents/deploy-and-wait.mjs')
    const parent = spawn(process.execPath, [script, SINK, root.dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    const pid = await new Promise<number>((resolve, reject) => {
      let out = ''
      parent.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        const m = /agent pid (\d+)/.exec(out)
        if (m) resolve(Number(m[1]))
      })
      parent.on('exit', (code) => reject(new Error(`the intermediate parent exited (${code}) first: ${out}`)))
    })
    try {
      expect(stateOf(pid)).toBeDefined()
      parent.kill('SIGKILL')
      expect(await until(() => stateOf(pid) === undefined, 5_000)).toBe(true)
    } finally {
      if (stateOf(pid) !== undefined) process.kill(pid, 'SIGKILL') // do not leak it when the test fails
    }
  })
})
