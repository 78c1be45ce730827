//go:build race

package forensics

// raceEnabled: the race detector slows verification about tenfold.
const raceEnabled = true
