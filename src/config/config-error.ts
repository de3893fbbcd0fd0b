/**
 * A configuration that cannot be used. Each problem is one line, `file:line path: problem`, written
 * for the operator who edits the file. Problems MUST NOT contain secret values: they name keys,
 * environment variables and file paths, never what those hold.
 */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
