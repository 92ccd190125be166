// Package nes computes a customer's NES lifecycle stage (N new, E0 active,
// S1 dozing, S2 half asleep, S3 deep asleep) as docs/segmentation.md defines
// it, and when the stage next changes by time alone. It is pure: no I/O and
// no clock; now is always passed in.
//
// Definitions, with n the number of orders ever, first and last the times of
// the first and last of them, and now the time the stage is asked for:
//
//   - The purchase cycle c is the mean interval between orders,
//     (last − first) / (n − 1), when n ≥ 2, otherwise Config.DefaultCycle
//     (30 days); either is clamped to [Config.MinCycle, Config.MaxCycle]
//     ([7, 365] days).
//   - The gap g is now − last, taken as 0 if now is before last (an event from
//     the future counts as a purchase now).
//   - n = 0 is Prospect; g ≤ c is New if n = 1, else Active; c < g ≤ 2c is
//     Dozing; 2c < g ≤ 3c is HalfAsleep; g > 3c is DeepAsleep. A gap equal
//     to a boundary stays in the earlier stage.
//
// The invariant is that without a new order the stage only moves forward,
// N or E0 → S1 → S2 → S3, at instants NextChange tells in advance, so the
// pipeline can set a timer and emit the transition when it happens.
package nes
