// The manager's error: a Control API error code (api.ts) and a message a person can act on.

export class ManagerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
