// Layer order of DESIGN.md: a folder of src/ imports only from folders listed above it.
// db holds the database drivers (pool, errors, migrator) that the store, messaging, security and context
// adapters share, so that none imports another's internals.
const layers = [
  'core',
  'db',
  'telemetry',
  'resilience',
  'store',
  'messaging',
  'security',
  'context',
  'models',
  'agents',
  'runtimes',
  'registry',
  'workflows',
  'orchestrator',
  'server',
  'client',
  'dashboard',
  'cli',
]

const layerRules = layers.map((layer, i) => ({
  name: `layer-order-${layer}`,
  comment: `src/${layer} may import only from layers above it in DESIGN.md (${layers.slice(0, i).join(', ') || 'none'}).`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${layers.slice(i + 1).join('|') || '__none__'})/` },
}))

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-foreign-adapter',
      severity: 'error',
      comment:
        "A database adapter (src/<part>/postgres, src/<part>/sqlite) shares pools, errors and the migrator through src/db, never through another part's adapter.",
      from: { path: '^src/([^/]+)/(postgres|sqlite)/' },
      to: { path: '^src/[^/]+/(postgres|sqlite)/', pathNot: '^src/($1|db)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Circular imports hide a missing layer.',
      from: {},
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-import-of-entry',
      severity: 'error',
      comment: 'Only users import the public entry points; inside src/, import the module itself.',
      from: { path: '^src/.+/' },
      to: { path: '^src/(index|testing)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
}
