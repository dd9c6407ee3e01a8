// One instance's fuel: the slice's budget in the fuel global the metered code decrements, the run's
// total and limit (kept in the continuation header), and the slice's wall-clock deadline. A slice
// past its deadline is made to fail the guest's next fuel check without changing the fuel it has
// used: the fuel taken out of the global is kept as credit and counted back.
// A host call's charges are added up as a number and taken from the global once, when the call
// returns (settle): the global is an i64 behind the JS API, each read or write a BigInt round trip.

import { GuestTrap } from "../traps.js";
import type { ContinuationHeader } from "./continuation.js";
import { UNLIMITED_FUEL } from "./instance-api.js";

export class FuelSlice {
  /** The fuel the current slice was asked for (a grace slice gets as much again). */
  request = UNLIMITED_FUEL;
  /** Fuel the slice started with: its budget, cut to what is left of the run's limit. */
  private budget = 0;
  /** performance.now() past which the slice ends early (Infinity: no wall-clock budget). */
  private deadline = Infinity;
  /** The wall-clock budget of each slice of the current call, ms. */
  ms: number | undefined;
  /** Fuel taken out of the global to make the next check fail: the true remaining fuel is the global plus this. */
  private credit = 0n;
  /** Charged since the last settle and not yet taken from the global (whole fuel). */
  private owed = 0;

  constructor(readonly global: WebAssembly.Global | undefined) {}

  begin(slice: number, header: ContinuationHeader): void {
    this.request = slice;
    const limit = header.fuelLimit;
    if (limit > 0 && header.fuelConsumed >= limit) {
      throw new GuestTrap("out_of_fuel", `the run already used ${header.fuelConsumed} of its ${limit} fuel`);
    }
    this.budget = limit > 0 ? Math.min(slice, limit - header.fuelConsumed) : slice;
    this.deadline = this.ms === undefined ? Infinity : performance.now() + this.ms;
    this.credit = 0n;
    this.owed = 0;
    if (this.global) this.global.value = BigInt(this.budget);
  }

  /** Fold what the slice used into the run's total. */
  end(header: ContinuationHeader): void {
    if (!this.global) return;
    header.fuelConsumed += this.budget - this.remaining();
    this.budget = 0;
    this.credit = 0n;
    this.global.value = 0n;
  }

  /** The slice's true remaining fuel (negative once overdrawn). */
  remaining(): number {
    this.settle();
    return Number((this.global!.value as bigint) + this.credit);
  }

  /** Whether the run's total would reach its limit with what this slice has used (`remaining` given). */
  exhaustsLimit(header: ContinuationHeader, remaining: number): boolean {
    const limit = header.fuelLimit;
    return remaining < 0 && limit > 0 && header.fuelConsumed + this.budget - remaining >= limit;
  }

  pastDeadline(): boolean {
    return this.deadline !== Infinity && performance.now() > this.deadline;
  }

  /** Past the deadline: make the guest's next fuel check fail (the one after the host call). */
  forceCheck(): void {
    if (!this.global || !this.pastDeadline()) return;
    this.settle();
    const global = this.global.value as bigint;
    if (global < 0n) return;
    this.credit += global + 1n;
    this.global.value = -1n;
  }

  /** A forced check that did not end the slice (a guest may also call yield itself): give the fuel back. */
  restoreCredit(): void {
    if (this.credit === 0n) return;
    this.settle();
    this.global!.value = (this.global!.value as bigint) + this.credit;
    this.credit = 0n;
  }

  /** A host call's work, taken from the running slice when the call returns (settle). */
  charge(fuel: number): void {
    this.owed += Math.ceil(fuel);
  }

  /** Take what was charged from the global: before the guest's code runs again, and before any read of it. */
  settle(): void {
    if (this.owed === 0) return;
    if (this.global) this.global.value = (this.global.value as bigint) - BigInt(this.owed);
    this.owed = 0;
  }
}
