import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { runtimeContract } from '../contract/runtime.contract.js'

runtimeContract({ name: 'inprocess', create: () => new InProcessRuntime(), liveProcesses: () => 0 })
