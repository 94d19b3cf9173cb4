// Command images builds each app of dapr.yaml as a container image without
// Docker: a static binary (CGO off) and the CA certificates in one layer on
// an empty base, run as the non-root user 65532 with the app as entrypoint,
// written as an OCI image layout archive .data/images/<app>.tar tagged
// harmonia/<app>:<tag>. Load one with 'kind load image-archive', 'ctr images
// import', 'docker load' (Docker 25+) or push it with 'crane push'.
// The Dockerfile at the root builds the same image with Docker.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"gopkg.in/yaml.v3"
)

// User is the image's numeric non-root user and group (distroless' nonroot).
const User = "65532:65532"

func main() {
	root := flag.String("root", ".", "the repository")
	out := flag.String("out", ".data/images", "where the archives go")
	tag := flag.String("tag", "dev", "the image tag")
	only := flag.String("apps", "", "comma-separated app ids (default: every app of dapr.yaml)")
	certs := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to ship")
	flag.Parse()
	if err := run(*root, *out, *tag, *only, *certs); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

type runFile struct {
	Apps []struct {
		AppID      string `yaml:"appID"`
		AppDirPath string `yaml:"appDirPath"`
	} `yaml:"apps"`
}

func run(root, out, tag, only, certs string) error {
	b, err := os.ReadFile(filepath.Join(root, "dapr.yaml"))
	if err != nil {
		return err
	}
	var rf runFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		return err
	}
	ca, err := os.ReadFile(certs)
	if err != nil {
		return fmt.Errorf("CA certificates: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(out, "bin"), 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, a := range strings.Split(only, ",") {
		if a != "" {
			want[a] = true
		}
	}
	for _, a := range rf.Apps {
		if len(want) > 0 && !want[a.AppID] {
			continue
		}
		start := time.Now()
		bin, err := filepath.Abs(filepath.Join(out, "bin", a.AppID))
		if err != nil {
			return err
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./"+filepath.ToSlash(filepath.Clean(a.AppDirPath)))
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", a.AppID, err)
		}
		exe, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		ref := "harmonia/" + a.AppID + ":" + tag
		archive := filepath.Join(out, a.AppID+".tar")
		size, err := writeImage(archive, ref, a.AppID, exe, ca)
		if err != nil {
			return fmt.Errorf("image %s: %w", a.AppID, err)
		}
		fmt.Printf("images: %s → %s (%.1f MiB compressed) in %s\n", ref, archive, float64(size)/(1<<20), time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// Image builds the image of one app: one layer on an empty base.
func Image(app string, exe, ca []byte) (v1.Image, error) {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	epoch := time.Unix(0, 0)
	dirs := []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "tmp/"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, ca},
		{app, 0o755, exe},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := layer.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User = User
	cf.Config.Entrypoint = []string{"/" + app}
	cf.Config.Cmd = nil
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":  "harmonia-" + app,
		"org.opencontainers.image.source": "https://github.com/harmonia-music/harmonia",
	}
	return mutate.ConfigFile(img, cf)
}

func writeImage(archive, ref, app string, exe, ca []byte) (int64, error) {
	img, err := Image(app, exe, ca)
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(archive), ".layout-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return 0, err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return 0, err
	}
	if err := tarDir(dir, archive); err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	var size int64
	for _, l := range m.Layers {
		size += l.Size
	}
	return size, nil
}

// tarDir writes the OCI layout in dir as one tar archive.
func tarDir(dir, archive string) error {
	f, err := os.Create(archive + ".tmp")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(archive + ".tmp")
		return err
	}
	return os.Rename(archive+".tmp", archive)
}
