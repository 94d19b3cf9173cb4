package e2e

// The web player in a real headless Chromium (Debian's chromium, which make
// setup installs), against the same stack as the rest of the suite: a
// listener signs up, searches with a typo and opens the top result, plays a
// track and seeks, hears two tracks in a row with no gap (measured on the
// audio clock by an AudioWorklet), makes a playlist and reorders it, follows
// an artist and sees the new release arrive in the bell without a reload,
// subscribes with a test card and sees the saga reach "active"; an admin
// opens a chart. axe-core checks every page; a second browser, without the
// CSP bypass that the instrumentation needs, proves the page's CSP holds
// (no violation reports) and measures the first visit. Screenshots of each
// page go to .data/screenshots/ on every run, with the console log of a
// failed test.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

var shotsDir = filepath.Join("..", "..", ".data", "screenshots")

// chromium finds the browser: HARMONIA_CHROMIUM, else chromium on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HARMONIA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found for the browser tests: run make setup (it installs Debian's chromium), or set HARMONIA_CHROMIUM")
	return ""
}

// browser is one Chromium with a profile of its own (its own cookies), and
// one tab.
type browser struct {
	t       *testing.T
	name    string
	ctx     context.Context
	mu      sync.Mutex
	console []string
}

func newBrowser(t *testing.T, name string, bypassCSP bool) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, name: name, ctx: ctx}
	for _, old := range []string{name + "-failed.png", name + "-console.log"} { // from an earlier run
		_ = os.Remove(filepath.Join(shotsDir, old))
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.shot("failed")
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			defer cancel()
			lines, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__log || []`))
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.harmonia ? {path: location.pathname, track: harmonia.engine.track && harmonia.engine.track.title,
				t: harmonia.engine.currentTime, paused: harmonia.engine.paused, ctx: harmonia.engine.ctx && harmonia.engine.ctx.state, queue: harmonia.player.queue.length, index: harmonia.player.index} : {path: location.pathname})`))
			b.mu.Lock()
			b.console = append(b.console, "page state: "+state)
			for _, l := range lines {
				b.console = append(b.console, "page: "+l)
			}
			_ = os.WriteFile(filepath.Join(shotsDir, name+"-console.log"), []byte(strings.Join(b.console, "\n")+"\n"), 0o644)
			b.mu.Unlock()
			t.Logf("%s: screenshot and console log in %s", name, shotsDir)
		}
		cancelTab()
		cancelAlloc()
	})
	// start the browser and listen to the page's console from the first page on
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// the page keeps its own console lines and errors too (read on failure)
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: pageLog}); err != nil {
		t.Fatal(err)
	}
	cons := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	excs := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for e, err := range cons {
			if err != nil {
				return
			}
			var parts []string
			for _, a := range e.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			b.log("console." + string(e.Type) + ": " + strings.Join(parts, " "))
		}
	}()
	go func() {
		for e, err := range excs {
			if err != nil {
				return
			}
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			b.log("exception: " + desc)
		}
	}()
	if bypassCSP {
		if _, err := chromedp.Call(ctx, cdppage.SetBypassCSP, cdppage.SetBypassCSPParams{Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.MkdirAll(shotsDir, 0o755)
	return b
}

func (b *browser) log(s string) {
	b.mu.Lock()
	b.console = append(b.console, time.Now().UTC().Format("15:04:05.000")+" "+s)
	b.mu.Unlock()
}

// do runs steps, failing the test (with what the page said) on an error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// wait polls a JavaScript predicate until it is truthy.
func (b *browser) wait(what, predicate string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(40*time.Second),
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(shotsDir, b.name+"-"+name+".png"), png, 0o644)
}

// open navigates within the page (the player keeps playing) or loads it.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Evaluate[chromedp.Void](`window.harmonia ? harmonia.go(`+jsString(path)+`) : location.assign(`+jsString(path)+`)`))
	b.wait("the page "+path, `document.documentElement.dataset.ready === 'true' && location.pathname + location.search === `+jsString(path)+
		` && !document.querySelector('main .loading')`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// axe runs axe-core on the page and fails on serious or critical violations.
func (b *browser) axe(page string) {
	b.t.Helper()
	src, err := os.ReadFile(filepath.Join("axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		b.t.Fatalf("axe-core is missing (make setup runs npm ci in tests/e2e/axe): %v", err)
	}
	if !eval[bool](b, `typeof axe !== 'undefined'`) {
		b.do("inject axe-core", chromedp.Evaluate[chromedp.Void](string(src)))
	}
	var res []struct {
		ID, Impact, Help string
		Nodes            []struct{ Target []string } `json:"nodes"`
	}
	raw := eval[[]byte](b, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
		.then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({target: n.target.map(String)}))})))`)
	if err := json.Unmarshal(raw, &res); err != nil {
		b.t.Fatal(err)
	}
	for _, v := range res {
		if v.Impact == "serious" || v.Impact == "critical" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, strings.Join(n.Target, " "))
			}
			b.t.Errorf("accessibility (%s) on %s: %s (%s) at %s", v.Impact, page, v.ID, v.Help, strings.Join(where, "; "))
		}
	}
}

// pageLog keeps the page's console lines and uncaught errors in window.__log.
const pageLog = `window.__log = [];
(() => {
  const keep = (k, a) => { try { window.__log.push(k + ': ' + a.map((x) => x && x.stack ? x.stack : typeof x === 'object' ? JSON.stringify(x) : String(x)).join(' ')); } catch (e) { /* unprintable */ } };
  for (const k of ['log', 'warn', 'error']) { const f = console[k]; console[k] = (...a) => { keep(k, a); f.apply(console, a); }; }
  addEventListener('error', (e) => keep('error', [e.message, e.filename + ':' + e.lineno]));
  addEventListener('unhandledrejection', (e) => keep('unhandled', [e.reason]));
})();`

// ---- test audio -----------------------------------------------------------------

// toneWAV is seconds of a sine at hz, amplitude 0.5, 48 kHz mono 16-bit,
// starting and stopping at full level: any silence between two of them is
// the player's.
func toneWAV(hz, seconds float64) []byte {
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
	for i := 0; i < n; i++ {
		// a quarter period in, so the first and last samples are loud
		x := 0.5 * math.Cos(2*math.Pi*hz*float64(i)/rate)
		w(int16(x * 32767))
	}
	return b.Bytes()
}

// toneAlbum publishes, as the admin, an artist's album of tracks made of
// tones (title → WAV); it returns the artist, the album and the track ids.
func toneAlbum(t *testing.T, admin string, artistName string, tracks []struct {
	title string
	wav   []byte
}) (string, string, []string) {
	t.Helper()
	artistID := ""
	if artistName != "" {
		r := do(t, "POST", gw+"/artists", admin, map[string]any{"name": artistName, "genres": []string{"Ambient"}})
		expect(t, r, 201)
		var a struct{ ID string }
		r.json(t, &a)
		artistID = a.ID
	}
	return toneAlbumFor(t, admin, artistID, tracks)
}

func toneAlbumFor(t *testing.T, admin, artistID string, tracks []struct {
	title string
	wav   []byte
}) (string, string, []string) {
	t.Helper()
	r := do(t, "POST", gw+"/albums", admin, map[string]any{"artistId": artistID, "title": "Tones " + randomHex(3), "genre": "ambient", "releaseDate": "2026-12-01"})
	expect(t, r, 201)
	var al struct{ ID string }
	r.json(t, &al)
	var ids []string
	for i, tr := range tracks {
		r = do(t, "POST", gw+"/albums/"+al.ID+"/tracks", admin, map[string]any{"title": tr.title, "trackNumber": i + 1})
		expect(t, r, 201)
		var x struct{ ID string }
		r.json(t, &x)
		expect(t, do(t, "PUT", gw+"/tracks/"+x.ID+"/audio", admin, tr.wav, "Content-Type", "audio/wav"), 200)
		ids = append(ids, x.ID)
	}
	expect(t, do(t, "POST", gw+"/albums/"+al.ID+"/publish", admin, nil), 200)
	return artistID, al.ID, ids
}

// The AudioWorklet that measures gaps: it listens to the player's output
// and keeps the longest run of silent frames between two loud ones (a
// frame under 1 % of full scale is silent; the tones never are, but for
// a frame at a zero crossing).
const gapMeter = `
class GapMeter extends AudioWorkletProcessor {
  constructor() {
    super();
    this.reset();
    this.port.onmessage = (e) => {
      if (e.data === 'reset') this.reset();
      else this.port.postMessage({ maxGap: this.maxGap, loud: this.loud, rate: sampleRate });
    };
  }
  reset() { this.run = 0; this.maxGap = 0; this.loud = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) { if (this.loud) this.run += 128; return true; } // no input: silence
    for (let i = 0; i < ch.length; i++) {
      if (Math.abs(ch[i]) >= 0.01) {
        if (this.loud && this.run > this.maxGap) this.maxGap = this.run;
        this.run = 0;
        this.loud++;
      } else if (this.loud) this.run++;
    }
    return true;
  }
}
registerProcessor('gap-meter', GapMeter);
`

// ---- the tests -------------------------------------------------------------------

func TestBrowserListener(t *testing.T) {
	admin := adminTokens(t).AccessToken
	// two short tones and a long one, by an artist of their own
	tones := []struct {
		title string
		wav   []byte
	}{{"Low tone", toneWAV(440, 1.5)}, {"High tone", toneWAV(660, 1.5)}, {"Long tone", toneWAV(550, 12)}}
	artistName := "Tone Studies " + randomHex(3)
	artistID, albumID, trackIDs := toneAlbum(t, admin, artistName, tones)

	b := newBrowser(t, "listener", true)
	email := "browser-" + randomHex(5) + "@example.com"

	// sign up
	b.do("the sign-up page", chromedp.Navigate(stack.GatewayURL+"/signup"), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	b.shot("signup")
	b.axe("signup")
	b.do("sign up",
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "browser-pass-"+randomHex(4)),
		chromedp.SendKeys(chromedp.CSS(`input[name="displayName"]`), "Browser Listener"),
		chromedp.SendKeys(chromedp.CSS(`input[name="country"]`), "PT"),
		chromedp.SendKeys(chromedp.CSS(`input[name="birthYear"]`), "1991"),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	b.wait("the home page", `location.pathname === '/' && document.querySelector('main h1') && document.querySelector('main h1').textContent === 'Listen now' && document.querySelectorAll('main ul.grid li').length > 0`)
	b.shot("home")
	b.axe("home")

	// the access token is in memory, the refresh token in an HttpOnly cookie
	if eval[bool](b, `document.cookie.includes('harmonia_refresh')`) {
		t.Error("the refresh token is readable by the page's scripts")
	}

	t.Run("search with a typo opens the top result", func(t *testing.T) {
		// the artist's name with a letter wrong: "Tone Stdies"
		typo := strings.Replace(artistName, "Studies", "Stdies", 1)
		// suggestions come as the listener types (after 200 ms of quiet)
		b.do("type in the search box", chromedp.Click(chromedp.CSS(`#q`)), chromedp.SendKeys(chromedp.CSS(`#q`), "Tone Stu"))
		b.wait("suggestions", `!document.getElementById('suggestions').hidden && [...document.querySelectorAll('#suggestions li')].some(li => li.textContent.includes('Tone Studies'))`)
		b.shot("suggestions")
		b.do("type the name with a typo, and search", chromedp.Evaluate[chromedp.Void](`document.getElementById('q').value = ''`),
			chromedp.SendKeys(chromedp.CSS(`#q`), typo+"\r"))
		b.wait("results", `location.pathname === '/search' && document.querySelector('.top-result')`)
		b.shot("search")
		b.axe("search")
		// the top result is the artist or one of theirs (an album, a track)
		top := eval[string](b, `document.querySelector('.top-result').textContent`)
		if !strings.Contains(top, artistName) && !strings.Contains(top, "tone") {
			t.Fatalf("top result %q is not the artist %q or theirs", top, artistName)
		}
		b.do("open the top result", chromedp.Click(chromedp.CSS(`.top-result a`)))
		b.wait("the result's page", `(location.pathname === '/artist/`+artistID+`' || location.pathname === '/album/`+albumID+`') && document.querySelector('main h1')`)
		b.shot("top-result")
		b.axe("top result")
		b.open("/artist/" + artistID)
		b.shot("artist")
		b.axe("artist")
	})

	t.Run("play a track, then seek", func(t *testing.T) {
		b.open("/album/" + albumID)
		b.shot("album")
		b.axe("album")
		// the long tone's own play button
		b.do("play the long tone", chromedp.Click(chromedp.CSS(`tr[data-track="`+trackIDs[2]+`"] button[aria-label^="Play"]`)))
		b.wait("playback", `harmonia.engine.track && harmonia.engine.track.id === '`+trackIDs[2]+`' && harmonia.engine.currentTime > 0.3`)
		t1 := eval[float64](b, `harmonia.engine.currentTime`)
		time.Sleep(800 * time.Millisecond)
		t2 := eval[float64](b, `harmonia.engine.currentTime`)
		if t2 <= t1 {
			t.Fatalf("currentTime did not advance: %.2f then %.2f", t1, t2)
		}
		if title := eval[string](b, `navigator.mediaSession.metadata ? navigator.mediaSession.metadata.title : ''`); title != "Long tone" {
			t.Errorf("Media Session title %q", title)
		}
		b.shot("playing")
		// seek with the bar, as a listener drags it
		b.do("seek to 7 s", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('harmonia-player input[aria-label="Seek"]'); s.value = '7'; s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); })()`))
		b.wait("playback from 7 s", `harmonia.engine.currentTime >= 7 && harmonia.engine.currentTime < 8.5`)
		s1 := eval[float64](b, `harmonia.engine.currentTime`)
		time.Sleep(800 * time.Millisecond)
		s2 := eval[float64](b, `harmonia.engine.currentTime`)
		if s2 <= s1 || s1 < 7 {
			t.Fatalf("after seeking to 7 s: %.2f then %.2f", s1, s2)
		}
		// keyboard: space pauses, → seeks 5 s
		b.do("pause with space", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), chromedp.KeyEvent(" "))
		b.wait("paused", `harmonia.engine.paused`)
		p1 := eval[float64](b, `harmonia.engine.currentTime`)
		time.Sleep(500 * time.Millisecond)
		if p2 := eval[float64](b, `harmonia.engine.currentTime`); math.Abs(p2-p1) > 0.05 {
			t.Fatalf("paused, yet the time moved from %.2f to %.2f", p1, p2)
		}
		b.do("stop", chromedp.Evaluate[chromedp.Void](`harmonia.engine.stop()`))
	})

	t.Run("two tracks in a row have no gap", func(t *testing.T) {
		b.open("/album/" + albumID)
		b.do("attach the gap meter", chromedp.Evaluate[chromedp.Void](`(async () => {
			const e = harmonia.engine; e.ensure();
			const url = URL.createObjectURL(new Blob([`+jsString(gapMeter)+`], {type: 'text/javascript'}));
			await e.ctx.audioWorklet.addModule(url);
			const node = new AudioWorkletNode(e.ctx, 'gap-meter');
			const sink = e.ctx.createGain(); sink.gain.value = 0;
			e.out.connect(node); node.connect(sink); sink.connect(e.ctx.destination);
			window.__gap = node;
			window.__gapRead = () => new Promise((res) => { node.port.onmessage = (m) => res(m.data); node.port.postMessage('read'); });
		})()`, chromedp.EvalAwaitPromise))
		var gaps []float64
		for run := 0; run < 3; run++ {
			b.do("reset the meter", chromedp.Evaluate[chromedp.Void](`harmonia.engine.stop(); window.__gap.port.postMessage('reset')`))
			b.do("play the album", chromedp.Click(chromedp.CSS(`.hero button.primary`)))
			// low → high → long: both joins are measured
			b.wait("the third track", `harmonia.engine.track && harmonia.engine.track.id === '`+trackIDs[2]+`' && harmonia.engine.currentTime > 0.5`)
			var m struct {
				MaxGap, Loud int
				Rate         float64
			}
			raw := eval[[]byte](b, `window.__gapRead()`)
			if err := json.Unmarshal(raw, &m); err != nil || m.Rate == 0 {
				t.Fatalf("gap meter: %s (%v)", raw, err)
			}
			if min := int(2.5 * m.Rate); m.Loud < min {
				t.Fatalf("the meter heard %d loud frames, fewer than the %.0f s of tone played: it is not on the player's output", m.Loud, 2.5)
			}
			gaps = append(gaps, float64(m.MaxGap)/m.Rate*1000)
		}
		b.do("stop", chromedp.Evaluate[chromedp.Void](`harmonia.engine.stop()`))
		sort.Float64s(gaps)
		median := gaps[1]
		t.Logf("gap between tracks (three runs, ms): %.3f, %.3f, %.3f; median %.3f", gaps[0], gaps[1], gaps[2], median)
		writeMetric(t, "gap_ms", median)
		if median >= 50 {
			t.Fatalf("the median gap between two tracks is %.1f ms, want under 50", median)
		}
	})

	t.Run("a playlist, made and reordered", func(t *testing.T) {
		b.open("/playlists")
		b.do("create a playlist", chromedp.SendKeys(chromedp.CSS(`main form input[name="name"]`), "Road trip"),
			chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
		b.wait("the playlist page", `location.pathname.startsWith('/playlist/') && document.querySelector('main h1') && document.querySelector('main h1').textContent === 'Road trip'`)
		plID := eval[string](b, `location.pathname.split('/')[2]`)
		// add the three tones from the album's track menus
		b.open("/album/" + albumID)
		for i, id := range trackIDs {
			b.do("open the track's menu", chromedp.Click(chromedp.CSS(`tr[data-track="`+id+`"] .menu > button`)))
			b.wait("the menu", `[...document.querySelectorAll('tr[data-track="`+id+`"] [role="menuitem"]')].some(x => x.textContent === 'Road trip')`)
			b.do("add to the playlist", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('tr[data-track="`+id+`"] [role="menuitem"]')].find(x => x.textContent === 'Road trip').click()`))
			b.wait("the toast", `[...document.querySelectorAll('.toast')].some(x => x.textContent === 'Added "`+tones[i].title+`" to Road trip')`)
		}
		b.open("/playlist/" + plID)
		b.wait("three entries", `document.querySelectorAll('main .entries li').length === 3`)
		// keyboard: the first row moves down one with Alt+↓
		b.do("focus the first row", chromedp.Focus(chromedp.CSS(`main .entries li:first-child`)))
		b.do("move it down", chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)))
		want := []string{trackIDs[1], trackIDs[0], trackIDs[2]}
		waitOrder := func(want []string) {
			t.Helper()
			deadline := time.Now().Add(15 * time.Second)
			for {
				var p struct {
					Entries []struct{ TrackID string }
				}
				do(t, "GET", gw+"/playlists/"+plID, tokenOf(t, b), nil).json(t, &p)
				var got []string
				for _, e := range p.Entries {
					got = append(got, e.TrackID)
				}
				if strings.Join(got, ",") == strings.Join(want, ",") {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("playlist order %v, want %v", got, want)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		waitOrder(want)
		// and with the button: the last row up one
		b.do("move the last up", chromedp.Click(chromedp.CSS(`main .entries li:last-child button[aria-label="Move up"]`)))
		waitOrder([]string{trackIDs[1], trackIDs[2], trackIDs[0]})
		b.shot("playlist")
		b.axe("playlist")
		// a change made elsewhere: the page's next edit gets 412 and says so
		do(t, "PATCH", gw+"/playlists/"+plID, tokenOf(t, b), map[string]any{"name": "Road trip (edited elsewhere)"})
		b.do("rename from the stale page", chromedp.Evaluate[chromedp.Void](`document.querySelector('main form input[name="name"]').value = 'Road trip 2'`),
			chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
		b.wait("the 412 message", `[...document.querySelectorAll('.toast')].some(x => x.textContent.includes('changed somewhere else'))`)
	})

	t.Run("follow an artist, and the new release reaches the bell live", func(t *testing.T) {
		b.open("/artist/" + artistID)
		b.do("follow", chromedp.Click(chromedp.CSS(`main .toolbar button[aria-pressed="false"]`)))
		b.wait("following", `document.querySelector('main .toolbar button').getAttribute('aria-pressed') === 'true'`)
		b.wait("the live stream", `document.querySelector('harmonia-bell').dataset.live === 'true'`)
		before := eval[int](b, `document.querySelector('harmonia-bell').unread`)
		toneAlbumFor(t, admin, artistID, []struct {
			title string
			wav   []byte
		}{{"Encore", toneWAV(330, 1)}})
		b.wait("a new notification, without a reload", `document.querySelector('harmonia-bell').unread > `+fmt.Sprint(before))
		b.do("open the bell", chromedp.Click(chromedp.CSS(`harmonia-bell button.bell`)))
		b.wait("the panel", `!document.getElementById('bell-panel').hidden && document.querySelectorAll('#bell-panel .notes li.unread').length > 0`)
		b.shot("bell")
		b.axe("bell")
		b.do("close the bell", chromedp.KeyEvent(kb.Escape))
	})

	t.Run("subscribe with a test card and see it active", func(t *testing.T) {
		b.open("/plans")
		b.do("add a card", chromedp.SendKeys(chromedp.CSS(`form[aria-label="Add a card"] input[name="cardNumber"]`), "4242424242424242"),
			chromedp.SendKeys(chromedp.CSS(`form[aria-label="Add a card"] input[name="holderName"]`), "Browser Listener"),
			chromedp.Click(chromedp.CSS(`form[aria-label="Add a card"] button[type="submit"]`)))
		b.wait("the card", `[...document.querySelectorAll('#pm option')].some(o => o.textContent.includes('4242'))`)
		b.do("choose Individual", chromedp.Click(chromedp.CSS(`button[data-plan="individual"]`)))
		b.wait("the saga's steps", `document.querySelector('.steps') !== null`)
		b.wait("active", `document.querySelector('.outcome') && document.querySelector('.outcome').dataset.status === 'active'`)
		b.shot("subscribed")
		b.axe("plans")
		var sub struct{ Status string }
		do(t, "GET", gw+"/me/subscription", tokenOf(t, b), nil).json(t, &sub)
		if sub.Status != "active" {
			t.Fatalf("the page said active, the API says %q", sub.Status)
		}
	})

	t.Run("the queue survives a reload", func(t *testing.T) {
		b.open("/album/" + albumID)
		b.do("play the album", chromedp.Click(chromedp.CSS(`.hero button.primary`)))
		b.wait("playing", `harmonia.engine.track && harmonia.engine.currentTime > 0.2`)
		b.do("pause", chromedp.Evaluate[chromedp.Void](`harmonia.engine.pause()`))
		// the pause saves the queue; read it back
		deadline := time.Now().Add(10 * time.Second)
		for {
			var p struct{ TrackIDs []string }
			do(t, "GET", gw+"/me/player", tokenOf(t, b), nil).json(t, &p)
			if len(p.TrackIDs) == len(trackIDs) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the queue was not saved: %v", p.TrackIDs)
			}
			time.Sleep(200 * time.Millisecond)
		}
		b.do("reload", chromedp.Reload())
		b.wait("the page again, signed in", `document.documentElement.dataset.ready === 'true' && document.querySelector('harmonia-bell')`)
		b.wait("the queue restored", `harmonia.player.queue.length === `+fmt.Sprint(len(trackIDs)))
		b.do("open the queue", chromedp.Click(chromedp.CSS(`harmonia-player button[aria-controls="queue-panel"]`)))
		b.wait("the queue's rows", `document.querySelectorAll('#queue-panel .entries li').length === `+fmt.Sprint(len(trackIDs)))
		b.shot("queue")
		b.axe("queue")
	})

	t.Run("profile, and a narrow screen", func(t *testing.T) {
		b.open("/me")
		b.shot("profile")
		b.axe("profile")
		b.do("a 360 px screen", chromedp.EmulateViewport(360, 740))
		b.open("/")
		b.shot("home-360")
		if w := eval[int](b, `document.documentElement.scrollWidth`); w > 362 {
			t.Errorf("at 360 px the page is %d px wide (it scrolls sideways)", w)
		}
		b.do("a desktop again", chromedp.EmulateViewport(1280, 900))
	})
}

// tokenOf gets the browser's access token the way the page does (a refresh
// through its cookie), for checks through the API.
func tokenOf(t *testing.T, b *browser) string {
	t.Helper()
	tok := eval[string](b, `fetch('/api/v1/auth/refresh', {method: 'POST', credentials: 'same-origin', headers: {'X-Harmonia-Session': 'cookie'}})
		.then(r => r.json()).then(j => j.accessToken)`)
	if tok == "" {
		t.Fatal("no access token from the page's session")
	}
	return tok
}

func TestBrowserAdminChart(t *testing.T) {
	b := newBrowser(t, "admin", true)
	b.do("sign in", chromedp.Navigate(stack.GatewayURL+"/signin"), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "admin@harmonia.local"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	b.wait("signed in", `location.pathname === '/' && document.querySelector('nav a[href="/admin"]')`)
	b.open("/admin/analytics")
	b.wait("the chart", `document.querySelector('img.chart') && document.querySelector('img.chart').complete && document.querySelector('img.chart').naturalWidth > 0`)
	b.shot("analytics")
	b.axe("admin analytics")
	b.open("/admin/audit")
	b.do("verify the chain", chromedp.Click(chromedp.CSS(`main .toolbar button`)))
	b.wait("the chain's verdict", `document.querySelector('main p[role="status"]').textContent.startsWith('The chain holds')`)
	b.shot("audit")
	b.axe("admin audit")
	b.open("/admin/failed")
	b.shot("failed")
	b.axe("admin failed notifications")
	b.open("/admin/offers")
	b.axe("admin offers")
	// a listener sees no admin pages
	listener := newAccount(t)
	r := do(t, "GET", gw+"/admin/analytics/plays?format=svg", listener.AccessToken, nil)
	expect(t, r, 403)
}

// Without the CSP bypass: the page's own policy holds (no violation on any
// page), and the first visit's weight and time to interactive are measured.
func TestBrowserContentSecurityPolicyHolds(t *testing.T) {
	b := newBrowser(t, "csp", false)
	if _, err := chromedp.Call(b.ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}
	loaded := chromedp.Events(b.ctx, network.LoadingFinished)
	var bytesIn float64
	var mu sync.Mutex
	go func() {
		for e, err := range loaded {
			if err != nil {
				return
			}
			mu.Lock()
			bytesIn += e.EncodedDataLength
			mu.Unlock()
		}
	}()
	// the first visit, signed out: the page, its modules and styles
	b.do("the first visit", chromedp.Navigate(stack.GatewayURL+"/"))
	b.wait("ready", `document.documentElement.dataset.ready === 'true'`)
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	weight := bytesIn
	mu.Unlock()
	tti := eval[float64](b, `performance.getEntriesByName('harmonia:ready')[0].startTime`)
	t.Logf("first visit: %.0f bytes transferred, interactive at %.0f ms (headless Chromium, cache disabled)", weight, tti)
	writeMetric(t, "first_visit_bytes", weight)
	writeMetric(t, "time_to_interactive_ms", tti)
	if _, err := chromedp.Call(b.ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: false}); err != nil {
		t.Fatal(err)
	}
	// the immutable files come from the cache the second time
	headers := eval[string](b, `fetch(document.querySelector('link[rel="stylesheet"]').href).then(r => r.headers.get('Cache-Control'))`)
	if !strings.Contains(headers, "immutable") {
		t.Errorf("the stylesheet's Cache-Control %q is not immutable", headers)
	}
	// sign in and visit every page
	acct := newAccount(t)
	b.open("/signin")
	b.do("sign in", chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), acct.Email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), acct.Password), chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	b.wait("home", `location.pathname === '/' && document.querySelectorAll('main ul.grid li').length > 0`)
	albumID := eval[string](b, `document.querySelector('main ul.grid a').getAttribute('href').split('/')[2]`)
	for _, p := range []string{"/album/" + albumID, "/search?q=cafe", "/playlists", "/plans", "/me", "/notifications"} {
		b.open(p)
	}
	b.open("/album/" + albumID)
	b.do("play the album", chromedp.Click(chromedp.CSS(`.hero button.primary`)))
	b.wait("playback", `harmonia.engine.track && harmonia.engine.currentTime > 0.2`)
	if v := eval[[]string](b, `window.__csp`); len(v) > 0 {
		t.Fatalf("the Content-Security-Policy was violated: %v", v)
	}
}

// writeMetric keeps a figure of the browser tests for the docs.
func writeMetric(t *testing.T, name string, v float64) {
	path := filepath.Join(shotsDir, "metrics.json")
	m := map[string]float64{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	m[name] = v
	b, _ := json.MarshalIndent(m, "", "  ")
	_ = os.MkdirAll(shotsDir, 0o755)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Log(err)
	}
}
