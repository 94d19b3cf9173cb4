// Package devstack runs Harmonia locally without the Dapr CLI: it reads the
// Multi-App Run file (dapr.yaml) and starts Redis, Mailpit, Sentry,
// placement, scheduler, one daprd per app and the apps, then stops them all.
package devstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

// RunFile is the subset of the Dapr CLI's Multi-App Run format the launcher reads.
type RunFile struct {
	Version int       `yaml:"version"`
	Common  RunCommon `yaml:"common"`
	Apps    []RunApp  `yaml:"apps"`

	dir string // folder of the file; relative paths resolve from here
}

// RunCommon holds settings shared by every app.
type RunCommon struct {
	ResourcesPath  string            `yaml:"resourcesPath"`
	ConfigFilePath string            `yaml:"configFilePath"`
	Env            map[string]string `yaml:"env"`
	LogLevel       string            `yaml:"logLevel"`
}

// RunApp is one app and its sidecar.
type RunApp struct {
	AppID                string            `yaml:"appID"`
	AppDirPath           string            `yaml:"appDirPath"`
	AppPort              int               `yaml:"appPort"`
	DaprHTTPPort         int               `yaml:"daprHTTPPort"`
	DaprGRPCPort         int               `yaml:"daprGRPCPort"`
	DaprInternalGRPCPort int               `yaml:"daprInternalGRPCPort"`
	MetricsPort          int               `yaml:"metricsPort"`
	ResourcesPath        string            `yaml:"resourcesPath"`
	ConfigFilePath       string            `yaml:"configFilePath"`
	LogLevel             string            `yaml:"logLevel"`
	MaxBodySize          string            `yaml:"maxBodySize"` // daprd's --max-body-size, e.g. "32Mi" (the CLI's name)
	Command              []string          `yaml:"command"`
	Env                  map[string]string `yaml:"env"`
}

// LoadRunFile reads and checks a Multi-App Run file.
func LoadRunFile(path string) (*RunFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f RunFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f.dir = filepath.Dir(abs)
	return &f, f.check()
}

func (f *RunFile) check() error {
	var errs []error
	if f.Version != 1 {
		errs = append(errs, fmt.Errorf("version must be 1, not %d", f.Version))
	}
	seen := map[string]bool{}
	ports := map[int]string{}
	for i, a := range f.Apps {
		where := fmt.Sprintf("apps[%d]", i)
		if a.AppID == "" {
			errs = append(errs, fmt.Errorf("%s: appID is required", where))
		}
		if seen[a.AppID] {
			errs = append(errs, fmt.Errorf("%s: appID %q is listed twice", where, a.AppID))
		}
		seen[a.AppID] = true
		if a.AppDirPath == "" || len(a.Command) == 0 {
			errs = append(errs, fmt.Errorf("%s (%s): appDirPath and command are required", where, a.AppID))
		}
		for name, p := range map[string]int{"appPort": a.AppPort, "daprHTTPPort": a.DaprHTTPPort, "daprGRPCPort": a.DaprGRPCPort,
			"daprInternalGRPCPort": a.DaprInternalGRPCPort, "metricsPort": a.MetricsPort} {
			if p <= 0 {
				errs = append(errs, fmt.Errorf("%s (%s): %s is required (the launcher does not pick ports)", where, a.AppID, name))
				continue
			}
			if other, dup := ports[p]; dup {
				errs = append(errs, fmt.Errorf("%s (%s): port %d is also %s", where, a.AppID, p, other))
			}
			ports[p] = a.AppID + " " + name
		}
	}
	return errors.Join(errs...)
}

// Path resolves p against the run file's folder.
func (f *RunFile) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.dir, p)
}

// Dir is the folder of the run file.
func (f *RunFile) Dir() string { return f.dir }

// Select keeps only the named apps (all when names is empty).
func (f *RunFile) Select(names []string) error {
	if len(names) == 0 {
		return nil
	}
	var kept []RunApp
	for _, n := range names {
		i := slices.IndexFunc(f.Apps, func(a RunApp) bool { return a.AppID == n })
		if i < 0 {
			return fmt.Errorf("no app %q in the run file", n)
		}
		kept = append(kept, f.Apps[i])
	}
	f.Apps = kept
	return nil
}
