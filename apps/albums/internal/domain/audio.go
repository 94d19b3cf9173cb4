package domain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"
)

// AudioInfo is what the bytes of an audio file say about it.
type AudioInfo struct {
	Format     string // wav, flac, ogg, mp3
	MimeType   string
	Duration   time.Duration
	SampleRate int
	Channels   int
	// DataStart is where the audio payload begins (after headers); a preview
	// keeps everything before it.
	DataStart int
	// BlockAlign is the bytes of one frame of a WAV file (0 for the others).
	BlockAlign int
}

// ErrNotAudio is returned for content that is not MP3, Ogg, WAV or FLAC.
var ErrNotAudio = errors.New("not a supported audio file")

// ProbeAudio recognises the format from the bytes (not only the first
// header: the structure is walked) and measures the duration.
func ProbeAudio(b []byte) (AudioInfo, error) {
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return probeWAV(b)
	case len(b) >= 4 && string(b[0:4]) == "fLaC":
		return probeFLAC(b)
	case len(b) >= 4 && string(b[0:4]) == "OggS":
		return probeOgg(b)
	default:
		return probeMP3(b)
	}
}

func probeWAV(b []byte) (AudioInfo, error) {
	info := AudioInfo{Format: "wav", MimeType: "audio/wav"}
	var byteRate, blockAlign int
	pos := 12
	for pos+8 <= len(b) {
		id := string(b[pos : pos+4])
		size := int(binary.LittleEndian.Uint32(b[pos+4 : pos+8]))
		body := pos + 8
		if size < 0 || body+size > len(b) && id != "data" {
			return info, ErrNotAudio
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return info, ErrNotAudio
			}
			format := binary.LittleEndian.Uint16(b[body:])
			info.Channels = int(binary.LittleEndian.Uint16(b[body+2:]))
			info.SampleRate = int(binary.LittleEndian.Uint32(b[body+4:]))
			byteRate = int(binary.LittleEndian.Uint32(b[body+8:]))
			blockAlign = int(binary.LittleEndian.Uint16(b[body+12:]))
			bits := int(binary.LittleEndian.Uint16(b[body+14:]))
			if (format != 1 && format != 3 && format != 0xFFFE) || info.Channels < 1 || info.Channels > 8 ||
				info.SampleRate < 4000 || info.SampleRate > 384000 || bits == 0 || bits%8 != 0 ||
				blockAlign != info.Channels*bits/8 || byteRate != info.SampleRate*blockAlign {
				return info, ErrNotAudio
			}
		case "data":
			if byteRate == 0 {
				return info, ErrNotAudio // data before fmt
			}
			avail := len(b) - body
			if size > avail {
				size = avail // a truncated file still plays up to its end
			}
			size -= size % blockAlign
			if size <= 0 {
				return info, ErrNotAudio
			}
			info.DataStart, info.BlockAlign = body, blockAlign
			info.Duration = time.Duration(int64(size) * int64(time.Second) / int64(byteRate))
			return info, nil
		}
		pos = body + size + size%2
	}
	return info, ErrNotAudio
}

func probeFLAC(b []byte) (AudioInfo, error) {
	info := AudioInfo{Format: "flac", MimeType: "audio/flac"}
	pos := 4
	sawInfo := false
	for pos+4 <= len(b) {
		last := b[pos]&0x80 != 0
		typ := b[pos] & 0x7F
		size := int(b[pos+1])<<16 | int(b[pos+2])<<8 | int(b[pos+3])
		body := pos + 4
		if body+size > len(b) {
			return info, ErrNotAudio
		}
		if typ == 0 { // STREAMINFO
			if size != 34 {
				return info, ErrNotAudio
			}
			s := b[body:]
			info.SampleRate = int(s[10])<<12 | int(s[11])<<4 | int(s[12])>>4
			info.Channels = int((s[12]>>1)&0x7) + 1
			total := uint64(s[13]&0x0F)<<32 | uint64(binary.BigEndian.Uint32(s[14:18]))
			if info.SampleRate == 0 || total == 0 {
				return info, ErrNotAudio
			}
			info.Duration = time.Duration(total * uint64(time.Second) / uint64(info.SampleRate))
			sawInfo = true
		}
		pos = body + size
		if last {
			break
		}
	}
	// the first audio frame starts with the sync code 0xFFF8/0xFFF9
	if !sawInfo || pos+2 > len(b) || b[pos] != 0xFF || b[pos+1]&0xFE != 0xF8 {
		return info, ErrNotAudio
	}
	info.DataStart = pos
	return info, nil
}

func probeOgg(b []byte) (AudioInfo, error) {
	info := AudioInfo{Format: "ogg", MimeType: "audio/ogg"}
	pos, pages := 0, 0
	var granule uint64
	clock := 0 // granule units per second
	for pos+27 <= len(b) {
		if string(b[pos:pos+4]) != "OggS" || b[pos+4] != 0 {
			return info, ErrNotAudio
		}
		segs := int(b[pos+26])
		if pos+27+segs > len(b) {
			break // truncated last page
		}
		size := 0
		for _, l := range b[pos+27 : pos+27+segs] {
			size += int(l)
		}
		body := pos + 27 + segs
		if body+size > len(b) {
			break
		}
		if pages == 0 {
			p := b[body : body+size]
			switch {
			case len(p) >= 30 && p[0] == 1 && string(p[1:7]) == "vorbis":
				info.Channels = int(p[11])
				info.SampleRate = int(binary.LittleEndian.Uint32(p[12:16]))
				clock = info.SampleRate
			case len(p) >= 19 && string(p[0:8]) == "OpusHead":
				info.Channels = int(p[9])
				info.SampleRate = 48000
				clock = 48000
			default:
				return info, ErrNotAudio
			}
		}
		if g := binary.LittleEndian.Uint64(b[pos+6 : pos+14]); g != ^uint64(0) && g > granule {
			granule = g
		}
		pages++
		pos = body + size
		if pages == 2 {
			info.DataStart = pos
		}
	}
	if pages < 2 || clock == 0 || granule == 0 {
		return info, ErrNotAudio
	}
	info.Duration = time.Duration(granule * uint64(time.Second) / uint64(clock))
	return info, nil
}

var (
	mp3Bitrates = [2][3][16]int{ // [mpeg1?0:1][layer-1][index] kbit/s
		{{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}},
		{{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}},
	}
	mp3Rates = [4][3]int{{11025, 12000, 8000}, {0, 0, 0}, {22050, 24000, 16000}, {44100, 48000, 32000}} // by version bits
)

// mp3Frame parses the frame header at b and returns its length, samples and rate.
func mp3Frame(b []byte) (length, samples, rate, channels int, ok bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return
	}
	version := int(b[1]>>3) & 3 // 3: MPEG1, 2: MPEG2, 0: MPEG2.5
	layer := 4 - int(b[1]>>1)&3 // 1, 2, 3
	bi, ri, pad := int(b[2]>>4), int(b[2]>>2)&3, int(b[2]>>1)&1
	if version == 1 || layer == 4 || bi == 0 || bi == 15 || ri == 3 {
		return
	}
	v := 1
	if version == 3 {
		v = 0
	}
	bitrate := mp3Bitrates[v][layer-1][bi] * 1000
	rate = mp3Rates[version][ri]
	channels = 2
	if b[3]>>6 == 3 {
		channels = 1
	}
	switch {
	case layer == 1:
		samples = 384
		length = (12*bitrate/rate + pad) * 4
	case layer == 3 && v == 1:
		samples = 576
		length = 72*bitrate/rate + pad
	default:
		samples = 1152
		length = 144*bitrate/rate + pad
	}
	return length, samples, rate, channels, length > 4
}

func probeMP3(b []byte) (AudioInfo, error) {
	info := AudioInfo{Format: "mp3", MimeType: "audio/mpeg"}
	pos := 0
	if len(b) >= 10 && string(b[0:3]) == "ID3" { // skip an ID3v2 tag (synchsafe size)
		pos = 10 + int(b[6]&0x7F)<<21 | int(b[7]&0x7F)<<14 | int(b[8]&0x7F)<<7 | int(b[9]&0x7F)
		if b[5]&0x10 != 0 {
			pos += 10
		}
	}
	info.DataStart = pos
	var frames, samples int
	for pos < len(b) {
		l, s, rate, ch, ok := mp3Frame(b[pos:])
		if !ok {
			if frames > 0 && (len(b)-pos < 4 || bytes.HasPrefix(b[pos:], []byte("TAG"))) {
				break // trailing ID3v1 tag or a cut last frame
			}
			return info, ErrNotAudio
		}
		if frames == 0 {
			info.SampleRate, info.Channels = rate, ch
		} else if rate != info.SampleRate {
			return info, ErrNotAudio
		}
		frames++
		samples += s
		pos += l
	}
	if frames < 3 { // a few consecutive valid frames, not one lucky sync word
		return info, ErrNotAudio
	}
	info.Duration = time.Duration(int64(samples) * int64(time.Second) / int64(info.SampleRate))
	return info, nil
}

// Preview returns the first limit of the file: headers plus the audio that
// plays in that time. WAV headers are rewritten so the preview is a valid
// file; for the other formats decoders stop at the cut. A file no longer
// than limit is returned whole.
func Preview(b []byte, info AudioInfo, limit time.Duration) []byte {
	if info.BlockAlign == 0 && info.Format == "wav" {
		info.BlockAlign = wavBlockAlign(b)
	}
	keep := PreviewLength(len(b), info, limit)
	if keep == len(b) {
		return b
	}
	out := append([]byte(nil), b[:keep]...)
	if info.Format == "wav" {
		copy(out, PreviewHeader(b[:info.DataStart], keep))
	}
	return out
}

// PreviewLength is how many bytes of a file of size bytes a preview of
// limit keeps: the headers and the payload that plays in limit (whole WAV
// frames); size when the file is no longer than limit.
func PreviewLength(size int, info AudioInfo, limit time.Duration) int {
	if info.Duration <= limit || info.Duration <= 0 {
		return size
	}
	payload := size - info.DataStart
	keep := info.DataStart + int(int64(payload)*int64(limit)/int64(info.Duration))
	if info.Format == "wav" {
		align := info.BlockAlign
		if align <= 0 {
			align = info.Channels * 2
		}
		keep -= (keep - info.DataStart) % align
	}
	return keep
}

// PreviewHeader is a WAV file's header (its first DataStart bytes)
// rewritten for a file cut at keep bytes.
func PreviewHeader(head []byte, keep int) []byte {
	out := append([]byte(nil), head...)
	if len(out) >= 12 {
		binary.LittleEndian.PutUint32(out[4:8], uint32(keep-8))
	}
	if n := len(out); n >= 8 {
		binary.LittleEndian.PutUint32(out[n-4:n], uint32(keep-n))
	}
	return out
}

func wavBlockAlign(b []byte) int {
	if i := bytes.Index(b, []byte("fmt ")); i >= 0 && i+22 <= len(b) {
		return int(binary.LittleEndian.Uint16(b[i+20:]))
	}
	return 0
}
