// Package ports translates HTTP and events to the catalogue's use cases.
package ports

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/albums/internal/app"
	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Routes mounts the catalogue's routes.
func Routes(r *mux.Router, s *app.Service, maxAudio int) {
	h := handlers{s: s, maxAudio: maxAudio}
	r.HandleFunc("/api/v1/artists", h.artists).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/artists", h.createArtist).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/artists/{id}", h.artist).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/albums", h.albums).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/albums", h.createAlbum).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/albums/{id}", h.album).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/albums/{id}", h.patchAlbum).Methods(http.MethodPatch)
	r.HandleFunc("/api/v1/albums/{id}/tracks", h.addTrack).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/albums/{id}/publish", h.publish).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/tracks/{id}", h.track).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/tracks/{id}/audio", h.upload).Methods(http.MethodPut)
	r.HandleFunc("/api/v1/tracks/{id}/stream", h.stream).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/v1/admin/catalog/import", h.importBatch).Methods(http.MethodPost)
	r.HandleFunc("/internal/tracks/{id}", h.internalTrack).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/artists/{id}", h.patchArtist).Methods(http.MethodPatch)
	r.HandleFunc("/internal/export/artists", h.exportArtists).Methods(http.MethodGet)
	r.HandleFunc("/internal/export/albums", h.exportAlbums).Methods(http.MethodGet)
}

// exportLimit is an export's page size (200 unless asked).
func exportLimit(r *http.Request) (int, error) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return 200, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil {
		return 0, platform.Invalid("limit", "must be a number between 1 and 500")
	}
	return n, nil
}

// exportArtists and exportAlbums page through the catalogue for search's
// rebuild (its access-control policy lets only search call them).
func (h handlers) exportArtists(w http.ResponseWriter, r *http.Request) {
	n, err := exportLimit(r)
	if err == nil {
		var p exports.Page[exports.Artist]
		if p, err = h.s.ExportArtists(r.Context(), n, r.URL.Query().Get("cursor")); err == nil {
			platform.WriteJSON(w, http.StatusOK, p)
			return
		}
	}
	platform.WriteError(w, r, err)
}

func (h handlers) exportAlbums(w http.ResponseWriter, r *http.Request) {
	n, err := exportLimit(r)
	if err == nil {
		var p exports.Page[exports.Album]
		if p, err = h.s.ExportAlbums(r.Context(), n, r.URL.Query().Get("cursor")); err == nil {
			platform.WriteJSON(w, http.StatusOK, p)
			return
		}
	}
	platform.WriteError(w, r, err)
}

// patchArtist renames an artist or changes its genres (If-Match: its version).
func (h handlers) patchArtist(w http.ResponseWriter, r *http.Request) {
	var in artistPatchRequest
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	ifMatch, err := platform.IfMatchVersion(r)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	a, err := h.s.PatchArtist(r.Context(), viewer(r), mux.Vars(r)["id"], ifMatch, in.Name, in.Genres)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("ETag", platform.VersionETag(a.CurrentVersion()))
	platform.WriteJSON(w, http.StatusOK, artistOf(a))
}

// Events subscribes the catalogue to the plays that feed trending, and to
// deleted accounts (detached from the artists they managed).
func Events(r *mux.Router, subs *pubsub.Subscriptions, s *app.Service) {
	pubsub.On(r, subs, func(_ context.Context, e events.TrackPlayed) error {
		s.CountPlay(e.AlbumID)
		return nil
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error {
		return s.ForgetOwner(ctx, e.UserID)
	})
}

type handlers struct {
	s        *app.Service
	maxAudio int
}

func viewer(r *http.Request) domain.Viewer {
	c, _ := platform.CallerFrom(r.Context())
	return domain.Viewer{UserID: c.UserID, IsAdmin: c.HasRole("admin")}
}

func signedIn(w http.ResponseWriter, r *http.Request) (domain.Viewer, bool) {
	c, ok := platform.SignedIn(w, r)
	return domain.Viewer{UserID: c.UserID, IsAdmin: c.HasRole("admin")}, ok
}

func limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, platform.Invalid("limit", "must be a number between 1 and 100")
	}
	return n, nil
}

func (h handlers) artists(w http.ResponseWriter, r *http.Request) {
	n, err := limit(r)
	if err == nil {
		var p domain.Page[domain.ArtistSummary]
		if p, err = h.s.Artists(r.Context(), n, r.URL.Query().Get("cursor")); err == nil {
			platform.WriteJSON(w, http.StatusOK, pageOf(p, artistSummaryOf))
			return
		}
	}
	platform.WriteError(w, r, err)
}

func (h handlers) createArtist(w http.ResponseWriter, r *http.Request) {
	var in artistRequest
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	a, err := h.s.CreateArtist(r.Context(), viewer(r), domain.Artist{Name: in.Name, Genres: in.Genres, OwnerUserID: in.OwnerUserID})
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/artists/"+a.ID)
	platform.WriteJSON(w, http.StatusCreated, artistOf(a))
}

func (h handlers) artist(w http.ResponseWriter, r *http.Request) {
	a, err := h.s.Artist(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, artistOf(a))
}

func (h handlers) albums(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := limit(r)
	if err == nil {
		var p domain.Page[domain.AlbumSummary]
		p, err = h.s.Albums(r.Context(), viewer(r), domain.AlbumQuery{ArtistID: q.Get("artistId"), Genre: q.Get("genre"),
			Sort: q.Get("sort"), Limit: n, Cursor: q.Get("cursor")})
		if err == nil {
			platform.WriteJSON(w, http.StatusOK, pageOf(p, albumSummaryOf))
			return
		}
	}
	platform.WriteError(w, r, err)
}

func (h handlers) createAlbum(w http.ResponseWriter, r *http.Request) {
	v, ok := signedIn(w, r)
	if !ok {
		return
	}
	var in struct {
		ArtistID    string `json:"artistId"`
		Title       string `json:"title"`
		Genre       string `json:"genre"`
		ReleaseDate string `json:"releaseDate"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	al, err := h.s.CreateAlbum(r.Context(), v, domain.Album{ArtistID: in.ArtistID, Title: in.Title, Genre: in.Genre, ReleaseDate: in.ReleaseDate})
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/albums/"+al.ID)
	w.Header().Set("ETag", platform.VersionETag(al.Version))
	platform.WriteJSON(w, http.StatusCreated, albumOf(al))
}

func (h handlers) album(w http.ResponseWriter, r *http.Request) {
	al, err := h.s.Album(r.Context(), viewer(r), mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("ETag", platform.VersionETag(al.Version))
	platform.WriteJSON(w, http.StatusOK, albumDetailOf(al))
}

func (h handlers) patchAlbum(w http.ResponseWriter, r *http.Request) {
	v, ok := signedIn(w, r)
	if !ok {
		return
	}
	match, err := platform.IfMatchVersion(r)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	var patch map[string]json.RawMessage
	if err := platform.DecodeJSON(w, r, &patch); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	al, err := h.s.PatchAlbum(r.Context(), v, mux.Vars(r)["id"], match, patch)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("ETag", platform.VersionETag(al.Version))
	platform.WriteJSON(w, http.StatusOK, albumOf(al))
}

func (h handlers) addTrack(w http.ResponseWriter, r *http.Request) {
	v, ok := signedIn(w, r)
	if !ok {
		return
	}
	var in struct {
		Title       string `json:"title"`
		TrackNumber int    `json:"trackNumber"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	t, err := h.s.AddTrack(r.Context(), v, mux.Vars(r)["id"], domain.Track{Title: in.Title, TrackNumber: in.TrackNumber})
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tracks/"+t.ID)
	platform.WriteJSON(w, http.StatusCreated, trackOf(t))
}

func (h handlers) publish(w http.ResponseWriter, r *http.Request) {
	v, ok := signedIn(w, r)
	if !ok {
		return
	}
	al, err := h.s.Publish(r.Context(), v, mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("ETag", platform.VersionETag(al.Version))
	platform.WriteJSON(w, http.StatusOK, albumOf(al))
}

func (h handlers) track(w http.ResponseWriter, r *http.Request) {
	t, err := h.s.Track(r.Context(), viewer(r), mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, trackOf(t))
}

func (h handlers) upload(w http.ResponseWriter, r *http.Request) {
	v, ok := signedIn(w, r)
	if !ok {
		return
	}
	if r.ContentLength > int64(h.maxAudio) {
		platform.WriteError(w, r, platform.E(platform.KindPayload, "audio-too-large", "audio files may be at most "+strconv.Itoa(h.maxAudio)+" bytes"))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.maxAudio)))
	if err != nil {
		platform.WriteError(w, r, platform.E(platform.KindPayload, "audio-too-large", "audio files may be at most "+strconv.Itoa(h.maxAudio)+" bytes"))
		return
	}
	t, err := h.s.UploadAudio(r.Context(), v, mux.Vars(r)["id"], data)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, trackOf(t))
}

func (h handlers) stream(w http.ResponseWriter, r *http.Request) {
	v, ok := signedIn(w, r)
	if !ok {
		return
	}
	st, err := h.s.Stream(r.Context(), v, mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	size := st.Size
	start, ok := checkRange(r.Header.Get("Range"), size)
	if !ok {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		platform.WriteError(w, r, platform.E(platform.KindRangeNotSatisfiable, "bad-range",
			"Range must be bytes=<first>-<last> within the "+strconv.FormatInt(size, 10)+"-byte stream"))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", st.Audio.MimeType)
	hd.Set("ETag", st.ETag)
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Cache-Control", "private, max-age=3600")
	hd.Set("X-Harmonia-Preview", strconv.FormatBool(st.Preview))
	if st.Preview {
		hd.Set("X-Harmonia-Preview-Seconds", strconv.Itoa(int(st.PreviewLength.Seconds())))
	}
	// One play per playback: the request that starts at the first byte.
	if r.Method == http.MethodGet && start == 0 {
		device := r.Header.Get(platform.HeaderDevice) // set by the gateway
		if device == "" {
			device = "other"
		}
		h.s.Played(r.Context(), v, st, device)
	}
	http.ServeContent(w, r, "", st.Modified, st.Body)
}

// checkRange validates a Range header (so a bad one gets a problem, not Go's
// plain-text 416) and returns the first byte asked for (0 without Range).
func checkRange(h string, size int64) (int64, bool) {
	if h == "" {
		return 0, true
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || spec == "" {
		return 0, false
	}
	first := int64(-1)
	for _, part := range strings.Split(spec, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return 0, false
		}
		var s, e int64
		var err error
		switch {
		case a == "": // suffix: the last b bytes
			if e, err = strconv.ParseInt(b, 10, 64); err != nil || e <= 0 {
				return 0, false
			}
			s = max(size-e, 0)
		default:
			if s, err = strconv.ParseInt(a, 10, 64); err != nil || s < 0 || s >= size {
				return 0, false
			}
			if b != "" {
				if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
					return 0, false
				}
			}
		}
		if first < 0 || s < first {
			first = s
		}
	}
	return first, true
}

func (h handlers) importBatch(w http.ResponseWriter, r *http.Request) {
	var b app.ImportBatch
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		platform.WriteError(w, r, platform.Invalid("body", "must be an import batch: "+err.Error()))
		return
	}
	res, err := h.s.Import(r.Context(), viewer(r), b)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, res)
}

func (h handlers) internalTrack(w http.ResponseWriter, r *http.Request) {
	t, err := h.s.PublishedTrack(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, t)
}
