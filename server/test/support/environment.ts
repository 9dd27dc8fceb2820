// Tests that need something of the machine (root, a mountable filesystem, slapd). Where it is
// missing they are skipped, visibly, on a developer machine; where a switch demands them (CI sets
// the switches in .ci/run) they run, or fail saying what is missing. None ever reports a pass
// without having run.

export interface Requirement {
  /** For it.skipIf / describe.skipIf: true only when it is missing and not demanded. */
  skip: boolean;
  /** Call first in the test: throws, saying what is missing, when it is not available. */
  check(): void;
}

export function requirement(opts: { switch: string; available: boolean; missing: string }): Requirement {
  const demanded = process.env[opts.switch] === '1';
  return {
    skip: !opts.available && !demanded,
    check() {
      if (!opts.available) throw new Error(`${opts.missing} (${opts.switch}=1 demands that this test runs)`);
    },
  };
}
