//go:build !race

package forensics

const raceEnabled = false
