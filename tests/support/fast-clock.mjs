// Preloaded with NODE_OPTIONS=--import into a child process: its clock (Date.now, new Date())
// runs CLOCK_SKEW_MS ahead, as on a machine whose clock drifted. PostgreSQL's clock is untouched.
const skewMs = Number(process.env.CLOCK_SKEW_MS ?? 0);
const RealDate = Date;

class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + skewMs);
    else super(...args);
  }

  static now() {
    return RealDate.now() + skewMs;
  }
}

globalThis.Date = SkewedDate;
