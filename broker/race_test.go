//go:build race

package broker

// raceEnabled reports a build with the race detector, under which sync.Pool
// drops items at random, so that allocation budgets do not hold.
const raceEnabled = true
