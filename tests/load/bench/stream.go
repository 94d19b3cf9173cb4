package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

// streamTracks is the stream scenario's fixture: tracks of about 10 MiB,
// published, and who may hear them whole (the admin).
type streamTracks struct {
	base, token string
	ids         []string
	size        int
}

// bigWAV is a WAV of seconds at 48 kHz, mono 16-bit (9.5 MiB for 104 s).
func bigWAV(seed, seconds float64) []byte {
	const rate = 48000
	n := int(seconds * rate)
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(rate))
	w(uint32(rate * 2))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * n))
	samples := make([]int16, n)
	for i := range samples {
		samples[i] = int16(8000 * math.Sin(2*math.Pi*(220+seed*40)*float64(i)/rate))
	}
	w(samples)
	return b.Bytes()
}

// prepareStreams uploads n tracks of about 9.5 MiB as the admin.
func prepareStreams(ctx context.Context, base string, n int) (*streamTracks, error) {
	tok, err := adminLogin(ctx, base)
	if err != nil {
		return nil, err
	}
	var artist struct{ ID string }
	if err := call(ctx, http.MethodPost, base+"/artists", tok, map[string]any{"name": fmt.Sprintf("Bench Long Takes %d", time.Now().UnixNano()%100000), "genres": []string{"Ambient"}}, &artist); err != nil {
		return nil, err
	}
	var al struct{ ID string }
	if err := call(ctx, http.MethodPost, base+"/albums", tok, map[string]any{"artistId": artist.ID, "title": "Long takes", "genre": "ambient", "releaseDate": "2026-01-01"}, &al); err != nil {
		return nil, err
	}
	st := &streamTracks{base: base, token: tok}
	for i := 0; i < n; i++ {
		var tr struct{ ID string }
		if err := call(ctx, http.MethodPost, base+"/albums/"+al.ID+"/tracks", tok, map[string]any{"title": fmt.Sprintf("Take %d", i+1), "trackNumber": i + 1}, &tr); err != nil {
			return nil, err
		}
		wav := bigWAV(float64(i), 104)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/tracks/"+tr.ID+"/audio", bytes.NewReader(wav))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "audio/wav")
		resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("upload %d: %d %.200s", i, resp.StatusCode, b)
		}
		st.ids, st.size = append(st.ids, tr.ID), len(wav)
	}
	if err := call(ctx, http.MethodPost, base+"/albums/"+al.ID+"/publish", tok, nil, nil); err != nil {
		return nil, err
	}
	return st, nil
}

// request is one listener action: mostly a seek (a 256 KiB range at a
// random place, as a player asks after a seek), one in twenty a whole
// track from its first byte (a play).
func (s *streamTracks) request(ctx context.Context, c *http.Client, i int) int {
	id := s.ids[i%len(s.ids)]
	rng := ""
	if i%20 != 0 {
		from := rand.IntN(s.size - 256<<10)
		rng = fmt.Sprintf("bytes=%d-%d", from, from+256<<10-1)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/tracks/"+id+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0
	}
	want := int64(s.size)
	if rng != "" {
		want = 256 << 10
	}
	if n != want {
		return 599 // a short answer counts as an error
	}
	return resp.StatusCode
}

// streamScenario plays the big tracks with seeks and reports the peak
// resident memory of albums and its sidecar over their level just before.
func streamScenario(ctx context.Context, st stackInfo, base string, rate float64, warm, d time.Duration, conns int) (loadgen.Result, error) {
	tracks, err := prepareStreams(ctx, base, 4)
	if err != nil {
		return loadgen.Result{}, err
	}
	albums := st.app("albums")
	procs := map[string]int{"albums": albums.AppPID, "albums-daprd": albums.SidecarPID, "gateway-daprd": st.app("gateway").SidecarPID}
	time.Sleep(5 * time.Second) // the uploads' garbage settles
	before := rssOf(ctx, procs)
	res := loadgen.Run(ctx, "stream", loadgen.Config{Rate: rate, Duration: d, Warmup: warm, Conns: conns, Procs: procs, PeakRSS: true}, tracks.request)
	res.Notes = fmt.Sprintf("%d tracks of %.1f MiB (WAV stored as %d KiB chunks); 19 in 20 requests a 256 KiB range at a random place, 1 in 20 a whole track; "+
		"peak RSS over the level just before: albums +%.0f MB (%.0f → %.0f), its sidecar +%.0f MB (%.0f → %.0f), the gateway's sidecar +%.0f MB",
		len(tracks.ids), float64(tracks.size)/(1<<20), 256,
		res.PeakRSSMB["albums"]-before["albums"], before["albums"], res.PeakRSSMB["albums"],
		res.PeakRSSMB["albums-daprd"]-before["albums-daprd"], before["albums-daprd"], res.PeakRSSMB["albums-daprd"],
		res.PeakRSSMB["gateway-daprd"]-before["gateway-daprd"])
	return res, nil
}
