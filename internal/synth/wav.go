// Package synth makes small playable audio files for seed catalogues and tests.
package synth

import (
	"encoding/binary"
	"math"
)

// WAV makes a playable mono 8-bit WAV of a short melody. seed picks the
// notes, so every seed gives a distinct file. Used for the seed catalogue and
// tests.
func WAV(seed uint64, seconds float64, rate int) []byte {
	n := int(seconds * float64(rate))
	data := make([]byte, n)
	scale := []float64{261.63, 293.66, 329.63, 349.23, 392.00, 440.00, 493.88, 523.25}
	x := seed*0x9E3779B97F4A7C15 + 1
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	noteLen := rate / 4
	freq := scale[next()%8]
	phase := 0.0
	for i := 0; i < n; i++ {
		if i%noteLen == 0 {
			freq = scale[next()%8] * float64(1+next()%2)
		}
		phase += 2 * math.Pi * freq / float64(rate)
		env := 1 - float64(i%noteLen)/float64(noteLen)
		data[i] = byte(128 + 90*env*math.Sin(phase))
	}
	out := make([]byte, 44+n)
	copy(out[0:4], "RIFF")
	binary.LittleEndian.PutUint32(out[4:8], uint32(36+n))
	copy(out[8:16], "WAVEfmt ")
	binary.LittleEndian.PutUint32(out[16:20], 16)
	binary.LittleEndian.PutUint16(out[20:22], 1)
	binary.LittleEndian.PutUint16(out[22:24], 1)
	binary.LittleEndian.PutUint32(out[24:28], uint32(rate))
	binary.LittleEndian.PutUint32(out[28:32], uint32(rate))
	binary.LittleEndian.PutUint16(out[32:34], 1)
	binary.LittleEndian.PutUint16(out[34:36], 8)
	copy(out[36:40], "data")
	binary.LittleEndian.PutUint32(out[40:44], uint32(n))
	copy(out[44:], data)
	return out
}
