//go:build !race

package flatten

const raceEnabled = false
