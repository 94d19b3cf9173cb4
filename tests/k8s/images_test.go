package k8s

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Each app's image archive (make images) is read back: an OCI layout tagged
// harmonia/<app>:dev whose config runs the app as the non-root user with
// the app as entrypoint, and whose one layer holds a static binary and the
// CA certificates.
func TestImages(t *testing.T) {
	apps, err := LoadApps(Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		t.Run(a.AppID, func(t *testing.T) {
			archive := filepath.Join(Root, ".data", "images", a.AppID+".tar")
			if _, err := os.Stat(archive); err != nil {
				t.Fatalf("%s: %v (make test-k8s runs make images first)", archive, err)
			}
			dir := t.TempDir()
			if err := untar(archive, dir); err != nil {
				t.Fatal(err)
			}
			idx, err := layout.ImageIndexFromPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil || len(im.Manifests) != 1 {
				t.Fatalf("index: %v, %d manifests", err, len(im.Manifests))
			}
			if ref := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != "harmonia/"+a.AppID+":dev" {
				t.Errorf("ref name %q", ref)
			}
			img, err := idx.Image(im.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Config.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532 (non-root)", cf.Config.User)
			}
			if !slices.Equal(cf.Config.Entrypoint, []string{"/" + a.AppID}) {
				t.Errorf("entrypoint %v", cf.Config.Entrypoint)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers: %v, %d (want one on an empty base)", err, len(layers))
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			files := map[string][]byte{}
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Typeflag == tar.TypeReg {
					b, _ := io.ReadAll(tr)
					files[h.Name] = b
				}
			}
			if !bytes.Contains(files["etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")) {
				t.Error("no CA certificates in the image")
			}
			exe := files[a.AppID]
			if len(exe) == 0 {
				t.Fatalf("no /%s in the layer", a.AppID)
			}
			if msg := staticELF(exe); msg != "" {
				t.Errorf("/%s: %s", a.AppID, msg)
			}
		})
	}
}

// staticELF says why an executable is not static ("" when it is).
func staticELF(b []byte) string {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return "not an ELF executable: " + err.Error()
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "has a program interpreter (dynamically linked)"
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return "needs shared libraries " + strings.Join(libs, ", ")
	}
	return ""
}

func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		out, err := os.Create(p)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
}

// The static check tells a dynamically linked executable apart.
func TestStaticCheckSeesDynamicLinking(t *testing.T) {
	b, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh here")
	}
	if resolved, _ := filepath.EvalSymlinks("/bin/sh"); resolved != "" {
		b, _ = os.ReadFile(resolved)
	}
	if staticELF(b) == "" {
		t.Error("/bin/sh passed as static")
	}
}
