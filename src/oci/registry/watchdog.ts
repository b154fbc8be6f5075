// A timer that fires once when nothing has happened for a while.

export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private hasFired = false;

  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {}

  /** (Re)starts the countdown. */
  kick(): void {
    if (this.hasFired) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.hasFired = true;
      this.onIdle();
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get fired(): boolean {
    return this.hasFired;
  }
}
