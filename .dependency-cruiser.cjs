/**
 * The house's floors, lowest first (README, "Layout"). A module may import its own room and any room
 * on a lower floor, never one above: so the graph of rooms has no cycle, and `npm run deps` fails on
 * the first import that runs back up. Types count: `import type` is checked like any other import.
 */
const FLOORS = [
  // base: configuration, logging, vocabulary shared by every room
  ['src/(config|log|errors|fields|states|signing|public-keys|services)\\.ts'],
  ['src/db/'],
  ['src/embargo/'],
  ['src/render/'],
  ['src/queue/'],
  ['src/mail/'],
  ['src/integrations/'],
  ['src/subscribers/', 'src/auth/'],
  ['src/controls/'],
  ['src/releases/'],
  ['src/alerts/'],
  ['src/telemetry/'],
  ['src/secret\\.ts'],
  ['src/context\\.ts'],
  ['src/pipeline/'],
  ['src/inbound/'],
  ['src/api/'],
  ['src/console/'],
  ['src/app\\.ts'],
  ['workers/'],
  ['src/processes\\.ts'],
  ['src/cli\\.ts'],
  ['bin/', 'scripts/'],
];

const room = (pattern) => `^(${pattern})`;
const above = (index) => FLOORS.slice(index + 1).flat().map(room).join('|');
const sameFloorSiblings = FLOORS.flatMap((floor) =>
  floor.length < 2
    ? []
    : floor.map((own) => ({
        name: 'no-sideways-import',
        comment: 'rooms on one floor do not import each other: move what they share down a floor',
        severity: 'error',
        from: { path: room(own) },
        to: { path: floor.filter((other) => other !== own).map(room).join('|') },
      })),
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a cycle between modules means neither can be read (or tested) without the other',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...FLOORS.slice(0, -1).map((floor, index) => ({
      name: 'imports-point-down',
      comment: `${floor.join(', ')} may import only its own room and the floors below it`,
      severity: 'error',
      from: { path: floor.map(room).join('|') },
      to: { path: above(index) },
    })),
    ...sameFloorSiblings,
    {
      name: 'src-is-not-tests',
      comment: 'the product and its scripts never import test support',
      severity: 'error',
      from: { path: '^(src|workers|scripts|bin)/' },
      to: { path: '^tests/' },
    },
    {
      name: 'every-room-is-on-a-floor',
      comment: 'a new room needs a floor in .dependency-cruiser.cjs (and the README picture)',
      severity: 'error',
      from: { path: '^(src|workers)/', pathNot: FLOORS.flat().map(room).join('|') },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
