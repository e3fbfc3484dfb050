/**
 * A problem with what the user gave us (flag, config, plugin, backend choice). The CLI prints its message as
 * one line and exits with code 2; anything else is a bug and keeps its stack trace.
 */
export class UserInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserInputError';
  }
}
