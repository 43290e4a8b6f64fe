// A series sampled on a timer for as long as a run lasts, kept to a bounded number of points: past the
// bound every other point is dropped and samples are taken half as often from then on, so a run of an
// hour keeps as many points as one of a minute, evenly spread over the whole of it.

/** Points a series keeps at most. */
export const MAX_SERIES_POINTS = 2000;

export class ThinnedSeries<T> {
  private kept: T[] = [];
  /** One sample is taken of every `every` offered; doubled at each thinning. */
  private every = 1;
  private offered = 0;

  constructor(private readonly max = MAX_SERIES_POINTS) {}

  /** Takes the point `read` gives when its turn has come, or with `always` (a run's last point) at any time. */
  offer(read: () => T, always = false): void {
    if (this.offered++ % this.every !== 0 && !always) return;
    this.kept.push(read());
    if (this.kept.length < this.max) return;
    this.kept = this.kept.filter((_, i) => i % 2 === 0);
    this.every *= 2;
  }

  /** The points kept, oldest first. */
  get points(): readonly T[] {
    return this.kept;
  }
}
