/** Billed seconds (SPEC §3 "How a CDR is rated", steps 3-5). */

/** 0 → 0; d ≤ initial → initial; else initial + ceil((d − initial) / subsequent) × subsequent. */
export function billedSeconds(
  duration: number,
  initialIncrement: number,
  subsequentIncrement: number,
): number {
  if (duration === 0) return 0;
  if (duration <= initialIncrement) return initialIncrement;
  return (
    initialIncrement + Math.ceil((duration - initialIncrement) / subsequentIncrement) * subsequentIncrement
  );
}

/** Surcharges are billed per started minute of their own seconds. */
export function surchargeBilledSeconds(seconds: number): number {
  return Math.ceil(seconds / 60) * 60;
}
