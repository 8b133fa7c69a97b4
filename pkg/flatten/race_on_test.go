// SPDX-License-Identifier: Apache-2.0

//go:build race

package flatten

// raceEnabled: the race detector makes heap and speed figures meaningless.
const raceEnabled = true
