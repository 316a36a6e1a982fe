// Reconnect delays: exponential from `initial` to `max` with "equal jitter" (each delay drawn
// from the upper half of its step), as natter-sdk's backoff.rs, so clients dropped together by a
// node restart do not all come back in the same millisecond.
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  nextDelayMs(): number {
    const step = Math.min(this.initialMs * 2 ** Math.min(this.attempt, 16), this.maxMs);
    this.attempt += 1;
    const half = step / 2;
    return half + this.random() * (step - half);
  }

  reset(): void {
    this.attempt = 0;
  }
}
