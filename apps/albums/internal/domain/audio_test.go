package domain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/harmonia-music/harmonia/internal/synth"
	"testing"
	"time"
)

func flacFile(rate int, samples uint64) []byte {
	si := make([]byte, 34)
	si[10] = byte(rate >> 12)
	si[11] = byte(rate >> 4)
	si[12] = byte(rate<<4) | (1 << 1) // 2 channels
	si[13] = byte(samples >> 32 & 0x0F)
	binary.BigEndian.PutUint32(si[14:18], uint32(samples))
	out := []byte("fLaC")
	out = append(out, 0x80, 0, 0, 34) // last block, STREAMINFO, 34 bytes
	out = append(out, si...)
	return append(out, 0xFF, 0xF8, 0x69, 0x08, 0x00, 0x00)
}

func oggPage(granule uint64, payload []byte) []byte {
	h := make([]byte, 27)
	copy(h, "OggS")
	binary.LittleEndian.PutUint64(h[6:14], granule)
	h[26] = 1
	return append(append(h, byte(len(payload))), payload...)
}

func oggVorbis(rate int, granule uint64) []byte {
	id := make([]byte, 30)
	id[0] = 1
	copy(id[1:7], "vorbis")
	id[11] = 2
	binary.LittleEndian.PutUint32(id[12:16], uint32(rate))
	return append(append(oggPage(0, id), oggPage(0, []byte("comments"))...), oggPage(granule, bytes.Repeat([]byte{1}, 200))...)
}

func mp3File(frames int) []byte {
	// MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames
	frame := make([]byte, 417)
	copy(frame, []byte{0xFF, 0xFB, 0x90, 0x00})
	out := []byte("ID3\x03\x00\x00\x00\x00\x00\x05hello")
	for i := 0; i < frames; i++ {
		out = append(out, frame...)
	}
	return out
}

func TestProbeAudio(t *testing.T) {
	cases := []struct {
		name   string
		in     []byte
		format string
		dur    time.Duration
	}{
		{"wav", synth.WAV(1, 2.5, 8000), "wav", 2500 * time.Millisecond},
		{"flac", flacFile(44100, 44100*3), "flac", 3 * time.Second},
		{"ogg vorbis", oggVorbis(48000, 48000*4), "ogg", 4 * time.Second},
		{"mp3", mp3File(100), "mp3", time.Duration(100 * 1152 * int64(time.Second) / 44100)},
	}
	for _, c := range cases {
		got, err := ProbeAudio(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Format != c.format || got.Duration != c.dur {
			t.Errorf("%s: %+v, want %s %v", c.name, got, c.format, c.dur)
		}
	}
	wav := synth.WAV(1, 1, 8000)
	badFmt := append([]byte(nil), wav...)
	binary.LittleEndian.PutUint32(badFmt[28:32], 1) // byte rate inconsistent with the format
	bad := map[string][]byte{
		"text":              []byte("hello, this is not audio at all"),
		"empty":             nil,
		"wav header only":   wav[:40],
		"wav inconsistent":  badFmt,
		"flac no frames":    flacFile(44100, 1000)[:42],
		"one mp3 sync word": append([]byte{0xFF, 0xFB, 0x90, 0x00}, bytes.Repeat([]byte{0}, 100)...),
		"mp3 then junk":     append(mp3File(5), []byte("garbage that is not a frame")...),
		"ogg unknown codec": oggPage(0, []byte("theora-video-stream-header-xyz")),
		"png":               {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0},
	}
	for name, b := range bad {
		if _, err := ProbeAudio(b); !errors.Is(err, ErrNotAudio) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
	if !bytes.Equal(synth.WAV(7, 1, 8000), synth.WAV(7, 1, 8000)) || bytes.Equal(synth.WAV(7, 1, 8000), synth.WAV(8, 1, 8000)) {
		t.Error("synthesised files must be deterministic and distinct")
	}
}

func TestPreviewIsAValidShorterFile(t *testing.T) {
	long := synth.WAV(3, 40, 8000)
	info, _ := ProbeAudio(long)
	p := Preview(long, info, 30*time.Second)
	pi, err := ProbeAudio(p)
	if err != nil || pi.Duration != 30*time.Second || !bytes.Equal(p[44:], long[44:len(p)]) {
		t.Fatalf("preview: %+v %v (%d bytes)", pi, err, len(p))
	}
	short := synth.WAV(3, 5, 8000)
	si, _ := ProbeAudio(short)
	if !bytes.Equal(Preview(short, si, 30*time.Second), short) {
		t.Fatal("a short file must be previewed whole")
	}
	mp3 := mp3File(2000) // ~52 s
	mi, _ := ProbeAudio(mp3)
	if got := len(Preview(mp3, mi, 30*time.Second)); got >= len(mp3) || got < len(mp3)/2 {
		t.Fatalf("mp3 preview of %d bytes from %d", got, len(mp3))
	}
}
