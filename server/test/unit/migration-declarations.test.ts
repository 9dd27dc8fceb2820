// Every migration declares whether the previous release's code keeps working on the schema after
// it (expand/contract; docs/OPERATIONS.md "Upgrades, rollbacks and migrations"). A file without
// the declaration fails here, so no module can add one without deciding.
import { describe, expect, it } from 'vitest';
import { readMigrationFiles } from '../../src/platform/db/migrator.ts';

describe('migration declarations', () => {
  it('every file in migrations/ declares its compatibility with the previous release', () => {
    const undeclared = readMigrationFiles()
      .filter((f) => f.compatibleWithPrevious === undefined)
      .map((f) => f.file);
    expect(
      undeclared,
      'add "-- parley:compatible-with-previous" or "-- parley:incompatible-with-previous: <why>" as a line of its own',
    ).toEqual([]);
  });

  it('an incompatible migration says why', () => {
    for (const f of readMigrationFiles().filter((m) => m.compatibleWithPrevious === false))
      expect(f.incompatibility, f.file).toBeTruthy();
  });
});
